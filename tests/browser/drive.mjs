// Drives Debian's Chromium through JupyterLab (or an exported HTML page) for tests/browser/test_browser.py.
//
//   node drive.mjs <scenario> <config.json>
//
// The config (written by the Python test) names the page, the notebook, the output folder and
// the scenario's parameters. The driver records what a learner would see into
// <outputDir>/result.json ({ok, error, observations, pageErrors, screenshots, warnings, log}) and
// saves screenshots there; the Python test makes the assertions. Exit code 0 when the scenario
// ran to its end, 1 when it stopped early (the reason is in result.json).
//
// Scenarios: "release-day" (lesson 05 with its dashboard and pod board), "steps" (a list of
// run / edit / expect steps, e.g. a lab's wrong answer then its right one) and "html" (a notebook
// exported with nbconvert). Add one by writing an async function (nb, cfg, rec) and listing it
// in SCENARIOS at the bottom.

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const MINUTE = 60_000;

// --- recording -----------------------------------------------------------------------------

class Recorder {
  constructor(outputDir) {
    this.outputDir = outputDir;
    this.observations = {};
    this.pageErrors = [];
    this.screenshots = [];
    this.warnings = [];
    this.lines = [];
    this.t0 = Date.now();
  }

  log(msg) {
    const line = `[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`;
    this.lines.push(line);
    console.log(line);
  }

  set(key, value) { this.observations[key] = value; }

  push(key, value) { (this.observations[key] ??= []).push(value); }

  async shot(name, target) {
    // A screenshot is evidence, not the assertion: retry (the page may be mid-redraw), then warn.
    const path = join(this.outputDir, `${name}.png`);
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        await target.screenshot({ path, timeout: 2 * MINUTE, animations: 'disabled' });
        this.screenshots.push(path);
        this.log(`screenshot ${name}.png`);
        return path;
      } catch (err) {
        this.log(`screenshot ${name} attempt ${attempt} failed: ${String(err).split('\n')[0]}`);
      }
    }
    this.warnings.push(`screenshot ${name} could not be taken`);
    return null;
  }

  write(ok, error) {
    const result = { ok, error, observations: this.observations, pageErrors: this.pageErrors,
      screenshots: this.screenshots, warnings: this.warnings, log: this.lines };
    writeFileSync(join(this.outputDir, 'result.json'), JSON.stringify(result, null, 2));
  }
}

// --- a notebook open in JupyterLab -----------------------------------------------------------

const stripAnsi = (s) => s.replace(/\u001b\[[0-9;]*m/g, '');

class Notebook {
  constructor(page, rec, cfg) {
    this.page = page;
    this.rec = rec;
    this.cfg = cfg;
    this.path = cfg.notebook;
  }

  // Open JupyterLab on the notebook and wait until its kernel is idle.
  async open() {
    const url = `${this.cfg.baseUrl}lab/tree/${encodeURI(this.path)}?reset&token=${this.cfg.token}`;
    this.rec.log(`opening ${this.path}`);
    await this.page.goto(url, { waitUntil: 'domcontentloaded', timeout: 5 * MINUTE });
    await this.page.waitForFunction(() => window.jupyterapp !== undefined, null,
      { timeout: 5 * MINUTE, polling: 500 });
    await this.page.evaluate(async () => { await window.jupyterapp.started; await window.jupyterapp.restored; });
    await this.page.waitForFunction((path) => {
      const w = window.jupyterapp.shell.currentWidget;
      return !!(w && w.context && w.context.path === path && w.context.isReady && w.content
        && w.content.widgets.length > 0);
    }, this.path, { timeout: 5 * MINUTE, polling: 500 });
    await this.waitKernelIdle(5 * MINUTE);
    this.rec.log('notebook open, kernel idle');
  }

  async waitKernelIdle(timeout) {
    await this.page.waitForFunction((path) => {
      const w = window.jupyterapp.shell.currentWidget;
      const sc = w && w.context && w.context.path === path ? w.sessionContext : null;
      return !!(sc && sc.isReady && sc.session && sc.session.kernel && sc.session.kernel.status === 'idle');
    }, this.path, { timeout, polling: 500 });
  }

  // [{index, type, source}] for every cell.
  async cells() {
    return this.page.evaluate(() => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      return nb.widgets.map((c, index) => ({ index, type: c.model.type, source: c.model.sharedModel.getSource() }));
    });
  }

  // Index of the first code cell whose source contains `needle` (a string), at or after `from`.
  async find(needle, from = 0) {
    const found = (await this.cells()).find((c) => c.index >= from && c.type === 'code' && c.source.includes(needle));
    if (!found) throw new Error(`no code cell containing ${JSON.stringify(needle)} in ${this.path}`);
    return found.index;
  }

  async setSource(index, source) {
    await this.page.evaluate(([i, src]) => {
      window.jupyterapp.shell.currentWidget.content.widgets[i].model.sharedModel.setSource(src);
    }, [index, source]);
  }

  // Start running one cell (through JupyterLab's own command) and return a handle to wait on.
  async start(index) {
    const key = await this.page.evaluate((i) => {
      const app = window.jupyterapp;
      const nb = app.shell.currentWidget.content;
      app.shell.activateById(app.shell.currentWidget.id);
      nb.activeCellIndex = i;
      nb.deselectAll();
      window.__scalelabRuns = window.__scalelabRuns || {};
      const key = `run-${i}-${Date.now()}`;
      window.__scalelabRuns[key] = 'running';
      app.commands.execute('notebook:run-cell').then(
        (ok) => { window.__scalelabRuns[key] = ok === false ? 'failed' : 'done'; },
        (err) => { window.__scalelabRuns[key] = `rejected: ${err}`; });
      return key;
    }, index);
    this.rec.log(`cell ${index} started`);
    return { index, key };
  }

  async isDone(run) {
    return this.page.evaluate((key) => window.__scalelabRuns[key] !== 'running', run.key);
  }

  // Wait until the cell has run and the kernel is idle; throw with the cell's traceback if it failed.
  async finish(run, timeout = 10 * MINUTE) {
    await this.page.waitForFunction((key) => window.__scalelabRuns[key] !== 'running', run.key,
      { timeout, polling: 500 });
    await this.waitKernelIdle(2 * MINUTE);
    const state = await this.page.evaluate((key) => window.__scalelabRuns[key], run.key);
    const errors = await this.errorOutputs(run.index);
    if (errors.length) throw new Error(`cell ${run.index} raised:\n${errors.join('\n')}`);
    if (state !== 'done') throw new Error(`cell ${run.index} did not run: ${state}`);
    this.rec.log(`cell ${run.index} done`);
  }

  async run(index, timeout) {
    await this.finish(await this.start(index), timeout);
  }

  // Error outputs (a Python exception) of one cell, as text.
  async errorOutputs(index) {
    const outs = await this.page.evaluate((i) => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
      return cell.model.type === 'code' ? cell.model.outputs.toJSON() : [];
    }, index);
    return outs.filter((o) => o.output_type === 'error')
      .map((o) => stripAnsi(`${o.ename}: ${o.evalue}\n${(o.traceback || []).join('\n')}`));
  }

  // Everything the page shows in outputs that a learner would read as breakage.
  async brokenOutputs() {
    return this.page.evaluate(() => {
      const nb = window.jupyterapp.shell.currentWidget.content;
      const found = [];
      nb.widgets.forEach((cell, i) => {
        if (cell.model.type !== 'code') return;
        const text = cell.node.querySelector('.jp-OutputArea')?.innerText || '';
        // ipywidgets 8 shows a view it cannot create as an error widget ("Click to show javascript
        // error."), and a model it cannot find as "Error displaying widget".
        for (const bad of ['Error displaying widget', 'Click to show javascript error', 'Traceback (most recent call last)']) {
          if (text.includes(bad)) found.push(`cell ${i}: ${bad}: ${text.slice(0, 300)}`);
        }
        const errorWidgets = cell.node.querySelectorAll('.jupyter-widgets-error-widget').length;
        if (errorWidgets) found.push(`cell ${i}: ${errorWidgets} widget(s) failed to render (ipywidgets error view)`);
        for (const o of cell.model.outputs.toJSON()) {
          if (o.output_type === 'error') found.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
        }
      });
      return found;
    });
  }

  cell(index) {
    return this.page.locator('.jp-Notebook .jp-Cell').nth(index);
  }

  output(index) {
    return this.page.locator('.jp-Notebook .jp-Cell').nth(index).locator('.jp-OutputArea');
  }

  // What the widgets of one cell's output show: captions, and each plotly graph's traces and SVG.
  async views(index) {
    return this.page.evaluate((i) => {
      const cell = window.jupyterapp.shell.currentWidget.content.widgets[i];
      const plots = [...cell.node.querySelectorAll('.js-plotly-plot')].map((gd) => ({
        traces: (gd.data || []).map((t) => ({
          name: t.name, visible: t.visible !== false,
          points: t.x ? t.x.length : 0,
          lastY: t.y && t.y.length ? Number(t.y[t.y.length - 1]) : null,
        })),
        svgs: gd.querySelectorAll('.main-svg').length,
        drawnPoints: gd.querySelectorAll('.scatterlayer .point').length,
        lineLength: [...gd.querySelectorAll('.scatterlayer .js-line')]
          .reduce((n, p) => n + (p.getAttribute('d') || '').length, 0),
        width: gd.getBoundingClientRect().width,
        height: gd.getBoundingClientRect().height,
      }));
      const captions = [...cell.node.querySelectorAll('.widget-html-content')].map((e) => e.innerText.trim());
      const text = cell.node.querySelector('.jp-OutputArea')?.innerText || '';
      const widgetErrors = cell.node.querySelectorAll('.jupyter-widgets-error-widget').length
        + (text.includes('Error displaying widget') ? 1 : 0);
      return { plots, captions, widgetErrors, text: text.slice(0, 2000) };
    }, index);
  }

  // Poll views(index) until check(views) is true; return the last views.
  async waitViews(index, what, check, timeout = 3 * MINUTE) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      last = await this.views(index);
      if (last.widgetErrors) {
        throw new Error(`a widget failed to render while waiting for ${what}: cell ${index} shows `
          + JSON.stringify(last.text.slice(0, 500)));
      }
      if (check(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}; cell ${index} shows `
          + JSON.stringify({ captions: last.captions, plots: last.plots.map((p) => ({ svgs: p.svgs,
            drawnPoints: p.drawnPoints, traces: p.traces.map((t) => `${t.name}:${t.points}`) })),
          text: last.text.slice(0, 500) }));
      }
      await this.page.waitForTimeout(500);
    }
  }

  async waitText(index, text, timeout = 3 * MINUTE) {
    return this.waitViews(index, `output containing ${JSON.stringify(text)}`, (v) => v.text.includes(text), timeout);
  }
}

// --- scenarios -------------------------------------------------------------------------------

const DASHBOARD_CAPTION = /(\d\d:\d\d): demand (\d+) req\/s, (\d+) ready pods/;

function readDashboard(views) {
  // The dashboard is the plot with a "demand" trace; its caption the one naming ready pods.
  const plot = views.plots.find((p) => p.traces.some((t) => t.name === 'demand'));
  const caption = views.captions.find((c) => DASHBOARD_CAPTION.test(c)) || '';
  const m = caption.match(DASHBOARD_CAPTION);
  return {
    clock: m ? m[1] : null, demand: m ? Number(m[2]) : null, ready: m ? Number(m[3]) : null,
    points: plot ? Math.max(...plot.traces.map((t) => t.points)) : 0,
    readyTraceLast: plot ? plot.traces.find((t) => t.name === 'ready')?.lastY ?? null : null,
    lineLength: plot ? plot.lineLength : 0, svgs: plot ? plot.svgs : 0,
  };
}

function readBoard(views, which = 0) {
  // Pod boards are the plots whose traces are pod states; their caption starts with "pods:".
  const boards = views.plots.filter((p) => p.traces.some((t) => t.name === 'Ready') && !p.traces.some((t) => t.name === 'demand'));
  const board = boards[which];
  const caption = views.captions.filter((c) => c.startsWith('pods:'))[which] || '';
  const counts = {};
  for (const m of caption.matchAll(/(\d+) (\w+)/g)) counts[m[2]] = Number(m[1]);
  return {
    caption, counts, captionTotal: Object.values(counts).reduce((a, b) => a + b, 0),
    tiles: board ? board.traces.reduce((n, t) => n + t.points, 0) : 0,
    readyTiles: board ? board.traces.find((t) => t.name === 'Ready')?.points ?? 0 : 0,
    drawnPoints: board ? board.drawnPoints : 0, svgs: board ? board.svgs : 0,
  };
}

async function noBrokenOutputs(nb, rec, when) {
  const broken = await nb.brokenOutputs();
  for (const b of broken) rec.push('brokenOutputs', `${when}: ${b}`);
  if (broken.length) throw new Error(`broken outputs ${when}:\n${broken.join('\n')}`);
}

// Lesson 05: run every cell as a learner would, watching the dashboard and the pod boards.
async function releaseDay(nb, cfg, rec) {
  await nb.open();
  const views = await nb.find('ScalingDashboard(release');
  const replay = await nb.find('release.run()');
  const wide = await nb.find('300 pods on 36 nodes');
  const cleanup = await nb.find('L.cleanup()');
  const last = (await nb.cells()).filter((c) => c.type === 'code').at(-1).index;
  rec.set('cells', { views, replay, wide, cleanup, last });
  let cleanedUp = false;
  try {
    for (const c of (await nb.cells()).filter((c) => c.type === 'code' && c.index <= views)) {
      await nb.run(c.index, cfg.cellTimeoutMs);
    }
    // Both live views are drawn before the story starts.
    let v = await nb.waitViews(views, 'the dashboard and the pod board to be drawn', (x) => {
      const d = readDashboard(x);
      const b = readBoard(x);
      return x.plots.length >= 2 && x.plots.every((p) => p.svgs > 0) && b.readyTiles >= 2 && b.drawnPoints >= 2
        && d.svgs > 0;
    });
    rec.set('boardBefore', readBoard(v));
    await rec.shot('01-views-before-replay', nb.output(views));
    await noBrokenOutputs(nb, rec, 'before the replay');

    // The replay: sample what the dashboard shows while the cell runs.
    const run = await nb.start(replay);
    let shotMidway = false;
    while (!(await nb.isDone(run))) {
      v = await nb.views(views);
      if (v.widgetErrors) throw new Error(`a widget failed during the replay: ${JSON.stringify(v.text.slice(0, 500))}`);
      const d = readDashboard(v);
      rec.push('dashboardSamples', { at: Date.now() - rec.t0, ...d });
      if (!shotMidway && d.clock && d.clock >= '18:10') {
        shotMidway = true;
        await rec.shot('02-dashboard-during-replay', nb.output(views).locator('.jp-OutputArea-child').first());
      }
      await nb.page.waitForTimeout(1000);
    }
    await nb.finish(run, cfg.cellTimeoutMs);
    v = await nb.views(views);
    rec.push('dashboardSamples', { at: Date.now() - rec.t0, ...readDashboard(v) });
    await noBrokenOutputs(nb, rec, 'after the replay');

    // The board's tiles agree with its caption (both drawn from the same informer).
    v = await nb.waitViews(views, 'the pod board to show a tile per pod', (x) => {
      const b = readBoard(x);
      return b.tiles > 0 && b.tiles === b.captionTotal && b.drawnPoints === b.tiles;
    });
    rec.set('boardAfterReplay', readBoard(v));
    await rec.shot('03-dashboard-after-replay', nb.output(views).locator('.jp-OutputArea-child').first());
    await rec.shot('04-pod-board-after-replay', nb.output(views).locator('.jp-OutputArea-child').nth(1));

    // The rest of the lesson, with the 300-pod board checked against the cluster's 300 ready pods.
    for (const c of (await nb.cells()).filter((c) => c.type === 'code' && c.index > replay && c.index < cleanup)) {
      await nb.run(c.index, cfg.cellTimeoutMs);
      if (c.index === wide) {
        const w = await nb.waitViews(wide, 'the wide pod board to show 300 ready tiles', (x) => {
          const b = readBoard(x);
          return b.readyTiles === 300 && b.drawnPoints >= 300;
        });
        rec.set('wideBoard', readBoard(w));
        await rec.shot('05-pod-board-300-pods', nb.output(wide));
      }
    }
    // Static snapshots (StaticFigure) are drawn by JupyterLab's plotly renderer, one per output.
    const snapshots = await nb.page.evaluate(() => [...document.querySelectorAll('.jp-RenderedPlotly')]
      .filter((el) => el.querySelector('.main-svg')).length);
    rec.set('staticFigures', snapshots);
    await noBrokenOutputs(nb, rec, 'before the cleanup');
    await rec.shot('06-notebook-before-cleanup', nb.page);
    cleanedUp = true;
    for (const c of (await nb.cells()).filter((c) => c.type === 'code' && c.index >= cleanup)) {
      await nb.run(c.index, cfg.cellTimeoutMs);
    }
    await nb.waitText(cleanup, 'namespace lesson-05 deleted');
    await noBrokenOutputs(nb, rec, 'after the cleanup');
    rec.set('cleanupRan', true);
  } finally {
    if (!cleanedUp) await runCleanupAfterFailure(nb, rec, cleanup, cfg);
  }
}

// After a failure: stop whatever runs, then run the notebook's cleanup cell (best effort; the
// Python test also deletes the namespace).
async function runCleanupAfterFailure(nb, rec, cleanup, cfg) {
  try {
    rec.log('running the cleanup cell after a failure');
    await nb.page.evaluate(() => window.jupyterapp.commands.execute('notebook:interrupt-kernel'));
    await nb.waitKernelIdle(MINUTE);
    await nb.run(cleanup, cfg.cellTimeoutMs);
    rec.set('cleanupRan', true);
  } catch (err) {
    rec.log(`cleanup after failure failed: ${String(err).split('\n')[0]}`);
  }
}

// A list of steps, for notebooks whose learner edits a cell (labs). Each step is one of
//   {run: NEEDLE}                   run the first code cell (from the current position) containing NEEDLE
//   {runUntil: NEEDLE}              run every code cell before that one
//   {runRest: true}                 run every remaining code cell
//   {edit: NEEDLE, source: TEXT}    replace that cell's source (what the learner types)
//   {write: PATH, content: TEXT}    save a text file (relative to the server's root) through
//                                   JupyterLab's contents API, as its editor would
// with optional {expect: TEXT} (wait until that cell's output shows TEXT), {screenshot: NAME}
// and {timeoutMs: N}. cfg.params.cleanup (a NEEDLE) names the cell to run if a step fails.
async function steps(nb, cfg, rec) {
  await nb.open();
  const { steps: list, cleanup } = cfg.params;
  let next = 0; // first code cell not run yet, for runUntil / runRest
  let cleanedUp = false;
  try {
    for (const step of list) {
      const timeout = step.timeoutMs || cfg.cellTimeoutMs;
      let index = null;
      if (step.write !== undefined) {
        await nb.page.evaluate(([path, content]) => window.jupyterapp.serviceManager.contents.save(
          path, { type: 'file', format: 'text', content }), [step.write, step.content]);
        rec.log(`file ${step.write} saved`);
      } else if (step.edit !== undefined) {
        index = await nb.find(step.edit);
        await nb.setSource(index, step.source);
        rec.log(`cell ${index} edited`);
      } else if (step.runUntil !== undefined || step.runRest) {
        const until = step.runRest ? Infinity : await nb.find(step.runUntil, next);
        for (const c of (await nb.cells()).filter((c) => c.type === 'code' && c.index >= next && c.index < until)) {
          await nb.run(c.index, timeout);
          index = c.index;
          next = c.index + 1;
        }
      } else if (step.run !== undefined) {
        index = await nb.find(step.run);
        await nb.run(index, timeout);
        next = Math.max(next, index + 1);
      } else {
        throw new Error(`unknown step ${JSON.stringify(step)}`);
      }
      if (cleanup && index !== null && (await nb.cells())[index].source.includes(cleanup)) cleanedUp = true;
      if ((step.expect !== undefined || step.screenshot) && index === null) {
        throw new Error(`step ${JSON.stringify(step).slice(0, 80)} runs no cell: nothing to expect or screenshot`);
      }
      if (step.expect !== undefined) {
        const v = await nb.waitText(index, step.expect, timeout);
        rec.push('expected', { step, cell: index, text: v.text });
      }
      if (step.screenshot) await rec.shot(step.screenshot, nb.cell(index));
      await noBrokenOutputs(nb, rec, `after step ${JSON.stringify(step).slice(0, 80)}`);
    }
  } finally {
    if (cleanup && !cleanedUp) await runCleanupAfterFailure(nb, rec, await nb.find(cleanup), cfg);
  }
}

// A notebook exported to HTML by nbconvert: every static figure is drawn by plotly.js, offline.
async function html(nb, cfg, rec) {
  const page = nb.page;
  // No network, as on the test machine: any http(s) request fails at once instead of hanging.
  await page.route(/^https?:\/\//, (route) => route.abort());
  await page.goto(`file://${cfg.params.file}`, { waitUntil: 'load', timeout: 5 * MINUTE });
  const expected = cfg.params.figures;
  await page.waitForFunction((n) => {
    const figures = [...document.querySelectorAll('.scalelab-static-figure')];
    return figures.length >= n && figures.every((f) => f.classList.contains('js-plotly-plot') && f.querySelector('.main-svg'));
  }, expected, { timeout: 3 * MINUTE, polling: 500 });
  const found = await page.evaluate(() => [...document.querySelectorAll('.scalelab-static-figure')].map((gd) => ({
    plotly: gd.classList.contains('js-plotly-plot'),
    svgs: gd.querySelectorAll('.main-svg').length,
    points: gd.querySelectorAll('.scatterlayer .point').length,
    lines: gd.querySelectorAll('.scatterlayer .js-line').length,
    title: gd.querySelector('.gtitle')?.textContent || '',
    text: gd.innerText.slice(0, 200),
  })));
  rec.set('figures', found);
  rec.set('plotlyLoaded', await page.evaluate(() => typeof window.Plotly === 'object' || typeof window.Plotly === 'function'));
  const first = page.locator('.scalelab-static-figure').first();
  await rec.shot('html-first-figure', first);
}

const SCENARIOS = { 'release-day': releaseDay, steps, html };

// --- main ------------------------------------------------------------------------------------

async function main() {
  const [name, configPath] = process.argv.slice(2);
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  const scenario = SCENARIOS[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  cfg.cellTimeoutMs ??= 10 * MINUTE;
  mkdirSync(cfg.outputDir, { recursive: true });
  const rec = new Recorder(cfg.outputDir);
  let browser;
  let ok = false;
  let error = null;
  try {
    browser = await chromium.launch({
      executablePath: cfg.chromium || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
      timeout: 3 * MINUTE,
    });
    const context = await browser.newContext({ viewport: { width: 1400, height: 1800 } });
    context.setDefaultTimeout(3 * MINUTE);
    const page = await context.newPage();
    page.on('pageerror', (err) => {
      rec.pageErrors.push(String(err.stack || err).slice(0, 2000));
      rec.log(`pageerror: ${String(err).slice(0, 300)}`);
    });
    page.on('console', (msg) => { if (msg.type() === 'error') rec.push('consoleErrors', msg.text().slice(0, 500)); });
    page.on('crash', () => rec.pageErrors.push('the page crashed'));
    await scenario(new Notebook(page, rec, cfg), cfg, rec);
    ok = true;
  } catch (err) {
    error = String(err.stack || err);
    rec.log(`FAILED: ${error.split('\n')[0]}`);
    if (browser) {
      try {
        const page = browser.contexts()[0]?.pages()[0];
        if (page) await rec.shot('failure', page);
      } catch { /* the evidence is optional */ }
    }
  } finally {
    rec.write(ok, error);
    if (browser) await browser.close().catch(() => {});
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err) => { console.error(err); process.exit(2); });
