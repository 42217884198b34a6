const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 560
const HEIGHT = 160
const PAD = { left: 44, right: 8, top: 10, bottom: 22 }

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text != null) e.textContent = text
  return e
}

/**
 * Credits earned per hour as bars, the last `hours` hours up to now (hours with no receipt are
 * empty). Hand-drawn SVG: a few dozen elements do not need a charting library.
 */
export function earningsChart(
  earnings: Array<{ hour: string; credits: number; tasks: number }>,
  now = Date.now(),
  hours = 24,
): SVGElement {
  const end = Math.floor(now / 3_600_000)
  const byHour = new Map(earnings.map((e) => [Math.floor(Date.parse(e.hour) / 3_600_000), e]))
  const slots = Array.from({ length: hours }, (_, i) => end - hours + 1 + i)
  const max = Math.max(...slots.map((s) => byHour.get(s)?.credits ?? 0), 0)
  const top = max === 0 ? 1 : niceCeil(max)
  const svg = el('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: 'chart',
    role: 'img',
    'aria-label': `credits earned per hour over the last ${hours} hours`,
  })
  const plotW = WIDTH - PAD.left - PAD.right
  const plotH = HEIGHT - PAD.top - PAD.bottom
  for (const f of [0, 0.5, 1]) {
    const y = PAD.top + plotH * (1 - f)
    svg.append(el('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: 'grid' }))
    svg.append(el('text', { x: PAD.left - 4, y: y + 4, class: 'axis', 'text-anchor': 'end' }, fmt(top * f)))
  }
  const slotW = plotW / hours
  slots.forEach((s, i) => {
    const e = byHour.get(s)
    const x = PAD.left + i * slotW
    if (e != null && e.credits > 0) {
      const hgt = Math.max(1, (e.credits / top) * plotH)
      const bar = el('rect', {
        x: x + 1,
        y: PAD.top + plotH - hgt,
        width: Math.max(1, slotW - 2),
        height: hgt,
        class: 'bar',
      })
      bar.append(el('title', {}, `${e.hour}: ${e.credits} credits from ${e.tasks} tasks`))
      svg.append(bar)
    }
    if (i % 6 === 0 || i === hours - 1) {
      const label = `${new Date(s * 3_600_000).toISOString().slice(11, 13)}h`
      svg.append(
        el('text', { x: x + slotW / 2, y: HEIGHT - 6, class: 'axis', 'text-anchor': 'middle' }, label),
      )
    }
  })
  return svg
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
  return 10 * p
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2)
}
