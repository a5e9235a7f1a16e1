import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CALIBRATION_METHODS, DEFAULT_CALIBRATION_METHOD, calibrateBundle, writeCalibration, type CalibrationMethod } from '../../../toolchain/quantize/calibrate';
import { checkTensorRt } from '../../../toolchain/quantize/check-tensorrt';
import { decodeModel } from '../../../toolchain/onnx/model-io';
import { PRECISION_TARGETS, quantizeBundle, type PrecisionTarget } from '../../../toolchain/quantize/quantize-bundle';
import { TENSORRT_TABLE_FILE, tensorRtCalibrationTable } from '../../../toolchain/quantize/tensorrt-table';
import { verifyBundles } from '../../../toolchain/quantize/verify';
import { loadBundle } from '../../bundle/load-bundle';
import { CANVAS_FILLS, type CanvasFill } from '../../eval/canvas';
import { InvalidArgumentError, JetfaceError } from '../../errors';
import { jsonOption, parseNumber, round } from '../shared-options';
import { registerModelEngine } from './model-engine';

/** `jetface model calibrate|quantize|verify|check-tensorrt|engine`: reduced precision, proven. */
export function registerModel(program: Command): void {
  const model = program.command('model').description('quantize, verify and provision models for TensorRT and the CPU');

  model
    .command('calibrate')
    .description("record every tensor's range over real images (the SDK's preprocessing); writes calibration.json and a TensorRT calibration table into the bundle")
    .requiredOption('--bundle <dir>', 'fp32 joint bundle')
    .requiredOption('--images <paths...>', 'image files or folders (never evaluation images)')
    .option('--count <n>', 'images to use, spread evenly over the files', '64')
    .option('--method <m>', `range method: ${CALIBRATION_METHODS.join(' | ')}`, DEFAULT_CALIBRATION_METHOD)
    .option('--percentile <p>', 'for --method percentile', '99.99')
    .option('--out <dir>', 'folder for calibration.json and calibration.cache (default: the bundle)')
    .action(async (o: { bundle: string; images: string[]; count: string; method: string; percentile: string; out?: string }) => {
      if (!CALIBRATION_METHODS.includes(o.method as CalibrationMethod)) throw new InvalidArgumentError('--method', CALIBRATION_METHODS.join(' | '), o.method);
      const start = Date.now();
      const calibration = await calibrateBundle(o.bundle, {
        images: o.images,
        count: parseNumber('--count', o.count),
        method: o.method as CalibrationMethod,
        percentile: parseNumber('--percentile', o.percentile),
        onProgress: (done, total) => process.stderr.write(`\rcalibrating ${done}/${total}`),
      });
      process.stderr.write('\n');
      const dir = o.out ?? o.bundle;
      const file = await writeCalibration(dir, calibration);
      await writeFile(join(dir, TENSORRT_TABLE_FILE), tensorRtCalibrationTable(calibration));
      console.log(`${Object.keys(calibration.tensors).length} tensors over ${calibration.images.length} images (${calibration.method}) in ${round((Date.now() - start) / 1000, 1)} s: ${file}, ${join(dir, TENSORRT_TABLE_FILE)}`);
    });

  model
    .command('quantize')
    .description('write an int8 (Q/DQ) or fp16 bundle; int8 keeps the layers that hurt most in float until the loss fits the budget')
    .requiredOption('--bundle <dir>', 'fp32 joint bundle')
    .requiredOption('--target <t>', `${PRECISION_TARGETS.join(' | ')} (tensorrt: NVIDIA's Q/DQ placement; cpu: what the CPU EP fuses)`)
    .requiredOption('--out <dir>', 'bundle folder to write')
    .option('--calibration <file>', "calibration.json (default: the bundle's, else calibrate over --images)")
    .option('--images <paths...>', "calibrate anew over these images instead of reading the bundle's calibration.json")
    .option('--method <m>', `calibration method when calibrating here: ${CALIBRATION_METHODS.join(' | ')}`)
    .option('--min-cosine <c>', 'budget: least mean embedding cosine to the float model', '0.985')
    .option('--min-detection <a>', 'budget: least detection agreement with the float model', '0.97')
    .option('--max-float-layers <n>', 'most layers kept in float', '16')
    .option('--float <prefixes...>', 'keep Conv layers whose names begin with these in float from the start (e.g. /net/: the stem and detector)')
    .option('--name <name>', 'bundle name (default: <source>-int8-<target> or <source>-fp16)')
    .addOption(jsonOption())
    .action(async (o: { bundle: string; target: string; out: string; calibration?: string; images?: string[]; method?: string; minCosine: string; minDetection: string; maxFloatLayers: string; float?: string[]; name?: string; json?: boolean }) => {
      if (!PRECISION_TARGETS.includes(o.target as PrecisionTarget)) throw new InvalidArgumentError('--target', PRECISION_TARGETS.join(' | '), o.target);
      const start = Date.now();
      const { manifest, report } = await quantizeBundle({
        bundle: o.bundle,
        out: o.out,
        target: o.target as PrecisionTarget,
        ...(o.calibration ? { calibration: o.calibration } : {}),
        ...(o.images ? { images: o.images } : {}),
        ...(o.method ? { method: o.method as CalibrationMethod } : {}),
        ...(o.name ? { name: o.name } : {}),
        ...(o.float ? { floatPrefixes: o.float } : {}),
        budget: {
          minCosine: parseNumber('--min-cosine', o.minCosine),
          minDetectionAgreement: parseNumber('--min-detection', o.minDetection),
          maxFloatLayers: parseNumber('--max-float-layers', o.maxFloatLayers),
        },
        onProgress: (m) => process.stderr.write(`${m}\n`),
      });
      const summary = { out: o.out, modelId: manifest.modelId, precision: manifest.precision, ...report, seconds: round((Date.now() - start) / 1000, 1) };
      if (o.json) console.log(JSON.stringify(summary));
      else {
        console.log(`wrote ${o.out} (${manifest.precision}, ${report.quantizedLayers} int8 layers, ${report.floatLayers.length} float)`);
        console.log(`cosine ${round(report.agreement.cosineMean, 4)} (p1 ${round(report.agreement.cosineP1, 4)}), detection agreement ${round(report.agreement.detectionAgreement, 4)}${report.withinBudget ? '' : '  -- OUTSIDE the budget'}`);
      }
    });

  model
    .command('verify')
    .description('candidate vs reference on one pair list: detection agreement, embedding cosine, verification accuracy and CPU latency of both')
    .requiredOption('--reference <dir>', 'the float bundle')
    .requiredOption('--candidate <dir>', 'the quantized bundle')
    .requiredOption('--pairs <file>', 'pair list (LFW format)')
    .requiredOption('--root <dir>', 'image root of the pair list')
    .option('--canvas <px>', 'each image centred on a square canvas of this side', '160')
    .option('--fill <mode>', `canvas border: ${CANVAS_FILLS.join(' | ')}`, 'grey')
    .addOption(jsonOption())
    .action(async (o: { reference: string; candidate: string; pairs: string; root: string; canvas: string; fill: string; json?: boolean }) => {
      if (!CANVAS_FILLS.includes(o.fill as CanvasFill)) throw new InvalidArgumentError('--fill', CANVAS_FILLS.join(' | '), o.fill);
      const r = await verifyBundles({
        reference: o.reference,
        candidate: o.candidate,
        pairs: o.pairs,
        root: o.root,
        canvas: parseNumber('--canvas', o.canvas),
        fill: o.fill as CanvasFill,
        onProgress: (done, total) => {
          if (!o.json && (done % 100 === 0 || done === total)) process.stderr.write(`\r${done}/${total} images`);
        },
      });
      const rounded = {
        ...r,
        latency_ratio: round(r.latency_ratio, 3),
        detect_latency_ratio: round(r.detect_latency_ratio, 3),
        accuracy_drop_points: round(r.accuracy_drop_points, 2),
        embedding_cosine_mean: round(r.embedding_cosine_mean, 4),
        embedding_cosine_p1: round(r.embedding_cosine_p1, 4),
        detection_agreement: round(r.detection_agreement, 4),
      };
      if (o.json) console.log(JSON.stringify(rounded));
      else {
        process.stderr.write('\n');
        for (const m of [r.reference, r.candidate]) {
          console.log(`${m.bundle} (${m.precision}): accuracy ${(m.accuracy * 100).toFixed(2)}% ± ${(m.accuracyStd * 100).toFixed(2)}, TAR@FAR1e-3 ${(m.tarAtFar1e3 * 100).toFixed(1)}%, model ${m.modelMs.toFixed(1)} ms, detect() ${m.detectMs.toFixed(1)} ms (medians)`);
        }
        console.log(`latency_ratio ${rounded.latency_ratio} (detect() ${rounded.detect_latency_ratio})  accuracy_drop_points ${rounded.accuracy_drop_points}  embedding_cosine_mean ${rounded.embedding_cosine_mean} (p1 ${rounded.embedding_cosine_p1})  detection_agreement ${rounded.detection_agreement}`);
      }
    });

  model
    .command('check-tensorrt')
    .description('static check that a Q/DQ model is what TensorRT explicit quantization accepts; exit 0 only when it passes')
    .argument('<path>', 'bundle folder or .onnx file')
    .addOption(jsonOption())
    .action(async (path: string, o: { json?: boolean }) => {
      const file = path.endsWith('.onnx') ? path : (await loadBundle(path)).modelFiles[0]!.path;
      const check = checkTensorRt(decodeModel(await readFile(file), file));
      if (o.json) console.log(JSON.stringify({ file, ...check }));
      else {
        console.log(`${file}: opset ${check.opset}, ${check.int8Convs} int8 Conv, ${check.floatConvs} float Conv, ${check.quantizeNodes} Q / ${check.dequantizeNodes} DQ`);
        for (const p of check.problems) console.log(`  - ${p}`);
        console.log(check.ok ? 'OK for TensorRT' : `NOT OK for TensorRT (${check.problems.length} problems)`);
      }
      if (!check.ok) throw new TensorRtCheckFailed(file, check.problems.length);
    });

  registerModelEngine(model);
}

/** `check-tensorrt` found problems (already printed): exit status 1. */
class TensorRtCheckFailed extends JetfaceError {
  constructor(file: string, count: number) {
    super('E_CONTRACT', `${file} is not ready for TensorRT: ${count} problem(s)`, { file, count });
  }
}
