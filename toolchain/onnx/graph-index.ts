import type { OnnxModel, OnnxNode, OnnxTensor } from './model-io';

/** Who produces and who consumes each tensor of a graph, and which tensors are constants. */
export class GraphIndex {
  readonly producer = new Map<string, OnnxNode>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly initializers = new Map<string, OnnxTensor>();
  readonly graphOutputs: Set<string>;

  constructor(model: OnnxModel) {
    const graph = model.graph!;
    for (const t of graph.initializer ?? []) this.initializers.set(t.name!, t);
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) this.producer.set(out, node);
      for (const input of node.input ?? []) {
        if (!input) continue;
        const list = this.consumers.get(input) ?? [];
        list.push(node);
        this.consumers.set(input, list);
      }
    }
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name!));
  }

  consumersOf(tensor: string): OnnxNode[] {
    return this.consumers.get(tensor) ?? [];
  }

  isConstant(tensor: string): boolean {
    return this.initializers.has(tensor) || this.producer.get(tensor)?.opType === 'Constant';
  }
}

/** Replaces `from` by `to` among a node's inputs. */
export function rewireInput(node: OnnxNode, from: string, to: string): void {
  node.input = (node.input ?? []).map((i) => (i === from ? to : i));
}

/**
 * PyTorch exports a weight shared by several layers (one head run at every stride) as Identity
 * nodes over one initializer. Readers are pointed at the initializer itself, so every Conv sees
 * its weight as a constant (as TensorRT's and onnxruntime's constant folding would).
 */
export function inlineConstantIdentities(model: OnnxModel): void {
  const graph = model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name!));
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));
  const alias = new Map<string, string>();
  graph.node = (graph.node ?? []).filter((n) => {
    const source = n.input?.[0];
    if (n.opType !== 'Identity' || !source || !initializers.has(source) || outputs.has(n.output![0]!)) return true;
    alias.set(n.output![0]!, source);
    return false;
  });
  for (const n of graph.node) n.input = (n.input ?? []).map((i) => alias.get(i) ?? i);
}

/**
 * Drops nodes whose outputs nothing reads (to a fixed point), then initializers no node reads.
 * A graph with subgraphs (If, Loop, Scan) is left as it is: what their bodies read is not walked.
 * Initializers also listed as graph inputs (older exports) stay, so the inputs keep their defaults.
 */
export function pruneUnused(model: OnnxModel): void {
  const graph = model.graph!;
  if ((graph.node ?? []).some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))) return;
  const outputs = new Set([...(graph.output ?? []), ...(graph.input ?? [])].map((o) => o.name!));
  const readBy = (nodes: readonly OnnxNode[]): Set<string> => {
    const read = new Set<string>(outputs);
    for (const node of nodes) for (const i of node.input ?? []) read.add(i);
    return read;
  };
  for (;;) {
    const read = readBy(graph.node ?? []);
    const kept = (graph.node ?? []).filter((node) => (node.output ?? []).some((o) => read.has(o)));
    if (kept.length === graph.node!.length) break;
    graph.node = kept;
  }
  const used = readBy(graph.node ?? []);
  graph.initializer = (graph.initializer ?? []).filter((t) => used.has(t.name!));
}
