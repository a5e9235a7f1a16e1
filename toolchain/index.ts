/**
 * jetface toolchain: build-time tools that label training data, check exported models and
 * write model bundles. Training itself is PyTorch (`toolchain/train/train.py`).
 *
 * @example
 * ```ts
 * import { writeCascadeBundle } from 'jetface/toolchain';
 * await writeCascadeBundle({ detector: 'yunet.onnx', recognizer: 'mfn.onnx', out: 'build/bundles/cascade' });
 * ```
 */
export { writeCascadeBundle, type CascadeBundleOptions } from './bundle/cascade';
export { writeBundleFiles, addModelFile } from './bundle/write-bundle';
export { writeJointBundle, TRAINING_DATA, TRAINING_TERMS, type JointBundleOptions } from './export/joint-bundle';
export { checkExport, EXPORT_TOLERANCE, type ExportCheck } from './export/check-export';
export { labelImages, LFW_CANVAS, type ImageLabel, type FaceLabel, type LabelProgress } from './label/label-images';
export { listTrainingImages, LABEL_SOURCES, type LabelItem, type LabelSource } from './label/sources';
export { readModel, writeModel, decodeModel, encodeModel, type OnnxModel } from './onnx/model-io';
export { calibrateBundle, writeCalibration, CALIBRATION_METHODS, type Calibration, type CalibrationMethod, type TensorRange } from './quantize/calibrate';
export { quantizeBundle, readCalibration, DEFAULT_BUDGET, PRECISION_TARGETS, type QuantizeOptions, type QuantizeReport, type QuantBudget, type PrecisionTarget } from './quantize/quantize-bundle';
export { insertQdq, QUANT_TARGETS, type QuantTarget } from './quantize/qdq';
export { checkTensorRt, type TensorRtCheck } from './quantize/check-tensorrt';
export { tensorRtCalibrationTable } from './quantize/tensorrt-table';
export { verifyBundles, type VerifyReport } from './quantize/verify';
export { prebuildEngines, type PrebuildOptions, type EngineBuildProgress, type EngineBuildResult } from './engine/prebuild';
