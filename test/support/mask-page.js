/**
 * Runs in the console's page (evaluated by test/support/screenshots.ts, not compiled with the project:
 * the project's TypeScript has no DOM types): masks every camera frame and face crop, replaces the
 * names in `names` ([from, to] pairs, case-insensitive), and leaves `window.__jetfaceUnmask` to undo it.
 *
 * @param {[string, string][]} names
 * @returns {Promise<{canvases: number, images: number, videos: number, textReplaced: number, unmasked: number}>}
 */
async function maskInPage(names) {
  const GREY = '#6b7280';
  const placeholder = (label) =>
    `data:image/svg+xml;charset=utf-8,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" width="160" height="160"><rect width="160" height="160" fill="${GREY}"/><text x="80" y="86" font-family="sans-serif" font-size="17" fill="#f3f4f6" text-anchor="middle">${label}</text></svg>`)}`;
  const CROP = placeholder('face crop');
  const FRAME = placeholder('camera frame');
  const rename = (text) => names.reduce((t, [from, to]) => t.replace(new RegExp(from.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), to), text);
  const undo = [];
  const report = { canvases: 0, images: 0, videos: 0, textReplaced: 0, unmasked: 0 };

  // Canvases (the live view) draw a grey frame where the camera's image would go, and neutral names.
  const proto = CanvasRenderingContext2D.prototype;
  const { drawImage, fillText } = proto;
  proto.drawImage = function (...args) {
    const [dx, dy, dw, dh] = args.length >= 9 ? args.slice(5, 9) : args.length >= 5 ? args.slice(1, 5) : [args[1], args[2], this.canvas.width, this.canvas.height];
    this.save();
    this.fillStyle = GREY;
    this.fillRect(dx, dy, dw, dh);
    this.fillStyle = '#f3f4f6';
    this.font = `${Math.round(dh / 12)}px sans-serif`;
    this.textAlign = 'center';
    fillText.call(this, 'camera frame', dx + dw / 2, dy + dh / 2);
    this.restore();
    this.canvas.dataset['masked'] = '1';
  };
  proto.fillText = function (text, x, y, maxWidth) {
    return maxWidth === undefined ? fillText.call(this, rename(text), x, y) : fillText.call(this, rename(text), x, y, maxWidth);
  };
  undo.push(() => {
    proto.drawImage = drawImage;
    proto.fillText = fillText;
  });

  const maskElement = (el) => {
    if (el instanceof HTMLImageElement && !el.dataset['maskedSrc']) {
      el.dataset['maskedSrc'] = el.src;
      el.src = CROP;
      report.images++;
      undo.push(() => {
        el.src = el.dataset['maskedSrc'];
        delete el.dataset['maskedSrc'];
      });
    } else if (el instanceof HTMLVideoElement && !el.dataset['maskedPoster']) {
      el.dataset['maskedPoster'] = el.poster;
      el.pause();
      el.style.visibility = 'hidden';
      report.videos++;
      undo.push(() => {
        el.style.visibility = '';
        delete el.dataset['maskedPoster'];
      });
    } else if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) {
      const value = el.value;
      const renamed = rename(value);
      if (renamed !== value) {
        el.value = renamed;
        report.textReplaced++;
        undo.push(() => (el.value = value));
      }
    }
  };
  const maskText = (node) => {
    const text = node.data;
    const renamed = rename(text);
    if (renamed === text) return;
    node.data = renamed;
    report.textReplaced++;
    undo.push(() => node.isConnected && node.data === renamed && (node.data = text));
  };
  const maskTree = (root) => {
    if (root instanceof Text) return maskText(root);
    if (!(root instanceof Element)) return;
    maskElement(root);
    for (const el of root.querySelectorAll('img, video, input, textarea')) maskElement(el);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) maskText(n);
  };
  maskTree(document.body);
  document.title = rename(document.title);
  // What the page adds or changes until the shot is masked as it comes.
  const observer = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'characterData' && r.target instanceof Text) maskText(r.target);
      for (const n of r.addedNodes) maskTree(n);
    }
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
  undo.push(() => observer.disconnect());

  // Each canvas is redrawn masked by the page's own loop; one that is not, within 3 s, is covered.
  const canvases = [...document.querySelectorAll('canvas')];
  report.canvases = canvases.length;
  for (const c of canvases) delete c.dataset['masked'];
  for (let i = 0; i < 60 && canvases.some((c) => c.dataset['masked'] !== '1'); i++) await new Promise((r) => setTimeout(r, 50));
  for (const c of canvases) {
    if (c.dataset['masked'] === '1') continue;
    const cover = document.createElement('img');
    cover.src = FRAME;
    const rect = c.getBoundingClientRect();
    Object.assign(cover.style, { position: 'absolute', left: `${rect.left + scrollX}px`, top: `${rect.top + scrollY}px`, width: `${rect.width}px`, height: `${rect.height}px` });
    c.style.visibility = 'hidden';
    document.body.append(cover);
    undo.push(() => (cover.remove(), (c.style.visibility = '')));
  }
  // Let the placeholders decode before the shot.
  await Promise.all([...document.images].map((img) => img.decode().catch(() => undefined)));
  report.unmasked =
    [...document.querySelectorAll('img')].filter((img) => !img.src.startsWith('data:image/svg+xml')).length +
    [...document.querySelectorAll('video')].filter((v) => v.style.visibility !== 'hidden').length +
    canvases.filter((c) => c.dataset['masked'] !== '1' && c.style.visibility !== 'hidden').length;
  window.__jetfaceUnmask = () => {
    for (const u of undo.reverse()) u();
    delete window.__jetfaceUnmask;
  };
  return report;
}
