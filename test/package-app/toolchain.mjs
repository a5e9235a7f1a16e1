// The toolchain entry from ESM: read the default model and check it statically.
import { checkTensorRt, readModel } from 'jetface/toolchain';

const check = checkTensorRt(await readModel('node_modules/jetface/models/jetface-s/model.onnx'));
console.log(JSON.stringify({ opset: check.opset, floatConvs: check.floatConvs, int8Convs: check.int8Convs }));
