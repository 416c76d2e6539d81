#!/usr/bin/env node
// Records reference outputs of the ORIGINAL face-api library (tfjs, pure-JS CPU backend) on
// fixed inputs, for the parity tests of our ONNX / PyTorch re-implementations.
//
// Normally run by `python -m emotion_training.face_api.reference` (see README.md here), which
// prepares the inputs as raw files, installs the pinned npm packages into .cache/ and calls:
//   node record_reference.js <job.json> <out.json>
//
// job.json: { model_dir, expression: { file, count, size },
//             detector: { input_sizes: [..], score_threshold, photos: [{ name, file, height, width }] } }
// Input files are raw little-endian: expression float32 NHWC RGB 0..255, photos uint8 HWC RGB.
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

async function main() {
  const [jobPath, outPath] = process.argv.slice(2);
  if (!jobPath || !outPath) throw new Error('usage: node record_reference.js <job.json> <out.json>');
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const dir = path.dirname(path.resolve(jobPath));
  await tf.setBackend('cpu');
  await tf.ready();
  await faceapi.nets.faceExpressionNet.loadFromDisk(job.model_dir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(job.model_dir);
  const out = {
    versions: { 'face-api': faceapi.version, tfjs: tf.version.tfjs, backend: tf.getBackend(), node: process.version },
    expression: await expressionOutputs(job.expression, dir),
    detector: await detectorOutputs(job.detector, dir),
  };
  fs.writeFileSync(outPath, JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
