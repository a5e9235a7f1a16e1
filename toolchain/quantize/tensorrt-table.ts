import type { Calibration } from './calibrate';

/**
 * TensorRT's native calibration cache for implicit INT8 (older stacks, or models without Q/DQ):
 * a header naming the calibrator, then `tensor: <scale>` with the float32 scale (amax / 127) as
 * 8 hex digits of its big-endian bits. onnxruntime reads it with
 * `trt_int8_calibration_table_name` + `trt_int8_use_native_calibration_table=1`.
 */
export function tensorRtCalibrationTable(calibration: Calibration, header = 'TRT-8601-EntropyCalibration2'): string {
  const view = new DataView(new ArrayBuffer(4));
  const lines = [header];
  for (const [name, range] of Object.entries(calibration.tensors)) {
    view.setFloat32(0, Math.max(range.amax, 1e-12) / 127, false);
    lines.push(`${name}: ${view.getUint32(0, false).toString(16).padStart(8, '0')}`);
  }
  return `${lines.join('\n')}\n`;
}

export { TENSORRT_TABLE_FILE } from '../../sdk/engine/tensorrt-options';
