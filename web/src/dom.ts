/** A few lines of DOM building: text only goes in as text nodes, never as HTML. */
export type Child = Node | string | number | null | undefined | false

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v))
  append(el, children)
  return el
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c == null || c === false) continue
    el.append(c instanceof Node ? c : String(c))
  }
}

/** Replaces the contents of the element with id `id`. */
export function fill(id: string, ...children: Child[]): void {
  const el = document.getElementById(id)
  if (el == null) return
  el.replaceChildren()
  append(el, children)
}

/** `12D3KooW…X8pQ`: peer and task ids are long; the full id is in the title. */
export function short(id: string, keep = 6): HTMLElement {
  const text = id.length > keep * 2 + 1 ? `${id.slice(0, keep)}…${id.slice(-keep)}` : id
  return h('span', { class: 'id', title: id }, text)
}

export function progress(done: number, total: number, failed = 0): HTMLElement {
  const pct = total === 0 ? 0 : Math.round(((done + failed) / total) * 100)
  // widths through the CSSOM: the page's CSP forbids style attributes
  const ok = h('div', { class: 'done' })
  ok.style.width = `${total === 0 ? 0 : (done / total) * 100}%`
  const bad = h('div', { class: 'failed' })
  bad.style.width = `${total === 0 ? 0 : (failed / total) * 100}%`
  const bar = h(
    'div',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': pct,
      'data-percent': pct,
    },
    ok,
    bad,
  )
  return h('div', { class: 'progress-row' }, bar, h('span', { class: 'pct' }, `${pct}%`))
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return new Date(ms).toISOString().slice(0, 10)
}

export function credits(n: number): string {
  return n.toLocaleString('en', { maximumFractionDigits: 6 })
}
