/**
 * A derived bundle's card: the source's card with a section on what was done to it, the notes'
 * sections (one the source has replaces it), and a `## Measured` list regenerated from `metrics`.
 * The source's `## Training data` and what follows it are kept.
 */
export function derivedModelCard(card: string, section: string, metrics: Record<string, unknown>, notes?: string): string {
  const measuredAt = card.indexOf('\n## Measured\n');
  const tailAt = card.indexOf('\n## Training data\n');
  const tail = measuredAt >= 0 && tailAt > measuredAt ? card.slice(tailAt) : '';
  let head = measuredAt >= 0 ? card.slice(0, measuredAt) : card.trimEnd();
  const added: string[] = [];
  for (const part of (notes ?? '').split(/^(?=## )/m).map((s) => s.trim()).filter(Boolean)) {
    const title = /^## .*$/m.exec(part)?.[0];
    const at = title && part.startsWith('## ') ? head.indexOf(`\n${title}\n`) : -1;
    if (at < 0) {
      added.push(part);
      continue;
    }
    const next = head.indexOf('\n## ', at + 1);
    head = `${head.slice(0, at)}\n${part}\n${next >= 0 ? head.slice(next) : ''}`;
  }
  return `${head.trimEnd()}

${section.trim()}
${added.map((s) => `\n${s}\n`).join('')}
## Measured

${Object.entries(metrics).map(([k, v]) => `- ${k}: ${String(v)}`).join('\n')}
${tail}`;
}
