// The console's event bus and its one render loop.
//
// Panels never call each other to say that something happened: socket.js applies each server
// event to the shared state (sync.js) and then emits it here under its protocol type
// ("chat.message", "notification"…), and the console's own happenings go out under names with
// a colon ("chat:selected", "offer:expired"…). A panel listens with `on(type, listener)` and
// draws in the render loop with `onRender(renderer)`; `render()` asks for one redraw of every
// panel in the next animation frame, however often it is called in between.

const listeners = new Map(); // type → [listener]
const renderers = [];
let renderQueued = false;

/** Call `listener(...args)` for every `emit(type, ...args)`; returns a function that stops it. */
export function on(type, listener) {
  if (!listeners.has(type)) listeners.set(type, []);
  listeners.get(type).push(listener);
  return () => {
    const list = listeners.get(type) || [];
    const at = list.indexOf(listener);
    if (at >= 0) list.splice(at, 1);
  };
}

/** Tell every listener of `type`, synchronously, in the order they started listening. */
export function emit(type, ...args) {
  for (const listener of [...(listeners.get(type) || [])]) listener(...args);
}

/** Draw with `renderer()` on every render, after the renderers registered before it. */
export function onRender(renderer) {
  renderers.push(renderer);
}

export function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderNow();
  });
}

export function renderNow() {
  for (const renderer of renderers) renderer();
}
