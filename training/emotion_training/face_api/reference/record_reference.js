#!/usr/bin/env node
// Records reference outputs of the ORIGINAL face-api library (tfjs, pure-JS CPU backend) on
// fixed inputs, for the parity tests of our ONNX / PyTorch re-implementations.
//
// Normally run by `python -m emotion_training.face_api.reference` (see README.md here), which
// prepares the inputs as raw files, installs the pinned npm packages into .cache/ and calls:
//   node record_reference.js <job.json> <out.json>
//
// job.json: { model_dir, expression: { file, count, size },
//             detector: { input_sizes: [..], score_threshold, photos: [{ name, file, height, width }] },
//             landmarks: { file, count, size }, recognition: { file, count, size },
//             ssd: { min_confidences: [..] }, faces: { photo name: [[x, y, w, h], ..] } }
// Input files are raw little-endian: expression / landmarks / recognition float32 NHWC RGB
// 0..255, photos uint8 HWC RGB. ssd and faces use the detector's photos.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');

function readFloat32(file, count) {
  const buf = fs.readFileSync(file);
  if (buf.length !== count * 4) throw new Error(`${file}: ${buf.length} bytes, expected ${count * 4}`);
  return new Float32Array(buf.buffer, buf.byteOffset, count);
}

async function expressionOutputs(job, dir) {
  const { count, size } = job;
  const data = readFloat32(path.join(dir, job.file), count * size * size * 3);
  const logits = [];
  const probabilities = [];
  for (let i = 0; i < count; i += 1) {
    const one = data.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    const image = tf.tensor3d(one, [size, size, 3], 'float32');
    const netInput = await faceapi.toNetInput(image);
    const z = faceapi.nets.faceExpressionNet.runNet(netInput);
    const p = await faceapi.nets.faceExpressionNet.forward(image);
    logits.push(Array.from(z.dataSync()));
    probabilities.push(Array.from(p.dataSync()));
    tf.dispose([image, z, p]);
  }
  return { logits, probabilities };
}

async function detectorOutputs(job, dir) {
  const result = {};
  for (const photo of job.photos) {
    const buf = fs.readFileSync(path.join(dir, photo.file));
    const image = tf.tensor3d(new Uint8Array(buf), [photo.height, photo.width, 3], 'int32');
    result[photo.name] = {};
    for (const inputSize of job.input_sizes) {
      const options = new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold: job.score_threshold });
      const found = await faceapi.nets.tinyFaceDetector.locateFaces(image, options);
      result[photo.name][String(inputSize)] = {
        boxes: found.map((d) => [d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height]),
        scores: found.map((d) => d.score),
      };
    }
    tf.dispose(image);
  }
  return result;
}

// Raw outputs of a net's runNet on fixed square inputs (no resize: they are at the net's size).
async function netOutputs(job, dir, run) {
  const { count, size } = job;
  const data = readFloat32(path.join(dir, job.file), count * size * size * 3);
  const outputs = [];
  for (let i = 0; i < count; i += 1) {
    const image = tf.tensor3d(data.subarray(i * size * size * 3, (i + 1) * size * size * 3), [size, size, 3], 'float32');
    const out = await run(image);
    outputs.push(Array.from(out));
    tf.dispose(image);
  }
  return outputs;
}

async function landmarkNetOutputs(net, job, dir) {
  return netOutputs(job, dir, async (image) => {
    const netInput = await faceapi.toNetInput(image);
    const z = net.runNet(netInput);
    const values = z.dataSync();
    tf.dispose(z);
    return values;
  });
}

function readPhoto(photo, dir) {
  const buf = fs.readFileSync(path.join(dir, photo.file));
  return tf.tensor3d(new Uint8Array(buf), [photo.height, photo.width, 3], 'int32');
}

async function ssdOutputs(job, photos, dir) {
  const result = {};
  for (const photo of photos) {
    const image = readPhoto(photo, dir);
    result[photo.name] = {};
    for (const minConfidence of job.min_confidences) {
      const options = new faceapi.SsdMobilenetv1Options({ minConfidence });
      const found = await faceapi.nets.ssdMobilenetv1.locateFaces(image, options);
      result[photo.name][String(minConfidence)] = {
        boxes: found.map((d) => [d.box.x, d.box.y, d.box.x + d.box.width, d.box.y + d.box.height]),
        scores: found.map((d) => d.score),
      };
    }
    tf.dispose(image);
  }
  return result;
}

// The library's own pipeline on given face boxes: crop (extractFaceTensors), 68 landmarks with
// both nets in image pixels, the dlib-style aligned box from the full net's landmarks, and the
// descriptor of that aligned crop.
async function facePipeline(faces, photos, dir) {
  const result = {};
  for (const photo of photos) {
    const image = readPhoto(photo, dir);
    const rects = faces[photo.name].map(([x, y, w, h]) => new faceapi.Rect(x, y, w, h));
    const crops = await faceapi.extractFaceTensors(image, rects);
    result[photo.name] = [];
    for (let i = 0; i < rects.length; i += 1) {
      const clipped = rects[i].clipAtImageBorders(photo.width, photo.height);
      const full = (await faceapi.nets.faceLandmark68Net.detectLandmarks(crops[i])).shiftBy(clipped.x, clipped.y);
      const tiny = (await faceapi.nets.faceLandmark68TinyNet.detectLandmarks(crops[i])).shiftBy(clipped.x, clipped.y);
      const aligned = full.align(null, { useDlibAlignment: true });
      const [alignedCrop] = await faceapi.extractFaceTensors(image, [aligned]);
      const descriptor = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(alignedCrop);
      result[photo.name].push({
        landmarks: full.positions.map((p) => [p.x, p.y]),
        landmarks_tiny: tiny.positions.map((p) => [p.x, p.y]),
        aligned_box: [aligned.x, aligned.y, aligned.width, aligned.height],
        descriptor: Array.from(descriptor),
      });
      tf.dispose(alignedCrop);
    }
    tf.dispose([image, ...crops]);
  }
  return result;
}

async function main() {
  const [jobPath, outPath] = process.argv.slice(2);
  if (!jobPath || !outPath) throw new Error('usage: node record_reference.js <job.json> <out.json>');
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const dir = path.dirname(path.resolve(jobPath));
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.faceExpressionNet.loadFromDisk(job.model_dir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(job.model_dir);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(job.model_dir);
  await faceapi.nets.faceLandmark68TinyNet.loadFromDisk(job.model_dir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(job.model_dir);
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(job.model_dir);
  const out = {
    versions: { 'face-api': faceapi.version, tfjs: tf.version.tfjs, backend: tf.getBackend(), node: process.version },
    expression: await expressionOutputs(job.expression, dir),
    detector: await detectorOutputs(job.detector, dir),
    landmarks: {
      full: await landmarkNetOutputs(faceapi.nets.faceLandmark68Net, job.landmarks, dir),
      tiny: await landmarkNetOutputs(faceapi.nets.faceLandmark68TinyNet, job.landmarks, dir),
    },
    descriptor: await netOutputs(job.recognition, dir,
      (image) => faceapi.nets.faceRecognitionNet.computeFaceDescriptor(image)),
    ssd: await ssdOutputs(job.ssd, job.detector.photos, dir),
    faces: await facePipeline(job.faces, job.detector.photos, dir),
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
