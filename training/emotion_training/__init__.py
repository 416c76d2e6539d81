"""PyTorch training workspace: datasets, models, training, evaluation, export.

Preprocessing, label sets and the model contract come from ``emotion_core`` so that what the
robot computes is exactly what the model was trained on.
"""
