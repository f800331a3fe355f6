// The logmarket dashboard: reads the admin API with a bearer token and follows /events live.
// Plain DOM, no dependencies. Every value from the daemon is written with textContent
// (findings quote log lines, which must never become markup).
"use strict";

(function () {
  const API = "/npe/log-marketplace";
  const TOKEN_KEY = "logmarket.adminToken";
  const FEED_MAX = 50;
  const REFRESH_EVENTS = new Set([
    "log.payment.executed", "log.payment.settled", "log.payment.held", "log.payment.refused",
    "log.payment.reversed", "achievement.unlocked", "level.up",
  ]);

  const $ = (id) => document.getElementById(id);
  let token = null;
  let lastEventId = null;
  let streamAbort = null;
  let refreshTimer = null;
  let refreshing = null;
  let refreshAgain = null;

  // -- small helpers ----------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  // The SVG namespace is taken from the page's own <svg> elements (the HTML parser puts
  // them there), so these files name no external address at all.
  function svg(tag, attrs, text) {
    const node = document.createElementNS($("earnings-svg").namespaceURI, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  const money = (n) => "$" + Number(n || 0).toLocaleString("en-US",
    { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const count = (n) => Number(n || 0).toLocaleString("en-US");

  function setText(id, text) {
    $(id).textContent = text;
  }

  function showError(id, message) {
    const node = $(id);
    node.textContent = message || "";
    node.hidden = !message;
  }

  class AuthFailed extends Error {}

  // -- the token ----------------------------------------------------------------------------

  function showLogin(message) {
    stopStream();
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("dashboard").hidden = true;
    $("sign-out").hidden = true;
    $("login").hidden = false;
    showError("token-error", message);
    setStatus("closed", "Not connected");
    $("token-input").focus();
  }

  async function useToken(candidate) {
    token = candidate;
    try {
      await refresh();
    } catch (err) {
      if (err instanceof AuthFailed) {
        showLogin(err.message);
        return;
      }
      showError("load-error", "Could not load the dashboard: " + err.message);
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = false;
    await loadHistory();
    startStream();
  }

  // -- the API ------------------------------------------------------------------------------

  // A GET, or with ``method`` (and a JSON ``body``) an admin action. A 401, or a 403 that
  // is about the token, is AuthFailed; any other failure an Error with the API's detail.
  async function api(path, options) {
    const opts = options || {};
    const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
    const init = { method: opts.method || "GET", headers, cache: "no-store" };
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.body);
    }
    const resp = await fetch(path, init);
    const body = resp.ok ? null : await resp.json().catch(() => ({}));
    if (resp.status === 401 || (resp.status === 403 && (body.error || "forbidden") === "forbidden")) {
      throw new AuthFailed(
        resp.status === 401
          ? "That token was not accepted (" + (body.detail || "unknown token") +
            "). Use the admin token from the daemon's state directory."
          : "This token is not the admin token: " + (body.detail || "forbidden"));
    }
    if (resp.status === 429) {
      const wait = Number(resp.headers.get("Retry-After") || "5");
      throw new Error("rate-limited, retry in " + wait + " s");
    }
    if (!resp.ok) {
      throw new Error(body.detail ? body.detail + " (HTTP " + resp.status + ")" : "HTTP " + resp.status);
    }
    return resp.json();
  }

  // One refresh at a time; asking meanwhile folds into one more after it (which then reads
  // what an action just changed, not the answer already on its way).
  async function refresh() {
    if (refreshing) {
      if (!refreshAgain) {
        refreshAgain = refreshing.catch(() => {}).then(() => {
          refreshAgain = null;
          return refresh();
        });
      }
      return refreshAgain;
    }
    refreshing = (async () => {
      try {
        const [data, groups] = await Promise.all(
          [api(API + "/dashboard"), api(API + "/findings?" + findingsQuery())]);
        render(data);
        renderFindings(groups);
        showError("load-error", "");
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refresh().catch((err) => {
        if (err instanceof AuthFailed) showLogin(err.message);
        else showError("load-error", "Could not refresh: " + err.message);
      });
    }, 250);
  }

  // -- rendering ----------------------------------------------------------------------------

  function render(d) {
    const t = d.totals;
    setText("total-analyses", count(t.analyses));
    setText("total-paid", count(t.paidAnalyses));
    setText("total-subpkps", count(t.subPKPs));
    setText("total-earnings", money(t.totalEarnings));
    setText("total-insights", count(t.insights));
    setText("total-simulated", count(t.simulatedAnalyses));
    setText("total-pending", money(t.pending));
    const refused = Object.entries(t.payoutsRefused || {}).sort();
    setText("total-refused", count(refused.reduce((sum, [, n]) => sum + n, 0)));
    setText("total-refused-reasons", refused.map(([why, n]) => `${why} ${count(n)}`).join(", "));
    $("totals").dataset.analyses = String(t.analyses);
    renderEarnings(d.earningsOverTime);
    renderTopEarners(d.topSellers);
    renderAgents(d.agents);
    renderQuality(d.qualityTrends);
    renderTriage(d.triage || []);
    renderRecent(d.recentAnalyses);
    const i = d.ingest;
    setText("ingest-stored", count(i.recordsStored));
    setText("ingest-duplicate", count(i.recordsDuplicate));
    setText("ingest-batches", count(i.batchesStored));
    setText("ingest-dropped", count(i.clientDropped));
    setText("ingest-depth", count(i.inboxDepth));
  }

  function fillTable(id, rows, empty, cells) {
    const body = $(id).tBodies[0];
    const cols = $(id).tHead.rows[0].cells.length;
    body.replaceChildren();
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { colspan: cols, class: "muted" }, empty)));
      return;
    }
    for (const row of rows) {
      const tr = el("tr");
      cells(row).forEach((c, n) => {
        const cell = el(n === 0 && c.header ? "th" : "td", c.header ? { scope: "row" } : {},
          c.text);
        if (c.num) cell.className = "num";
        tr.append(cell);
      });
      body.append(tr);
    }
  }

  function renderTopEarners(rows) {
    fillTable("top-earners", rows, "No data yet: nobody has been paid", (r) => [
      { text: r.rank, num: true },
      { text: r.subPKPId },
      { text: money(r.totalEarned), num: true },
      { text: count(r.paidLogs), num: true },
      { text: r.level, num: true },
      { text: count(r.xp), num: true },
    ]);
  }

  function renderAgents(rows) {
    fillTable("agents", rows, "No agents", (a) => [
      { text: a.name, header: true },
      { text: a.monitoredStages.join(", ") },
      { text: a.enabled ? "yes" : "no" },
      { text: count(a.logsAnalyzed), num: true },
      { text: count(a.insightsGenerated), num: true },
      { text: money(a.moneyPaid), num: true },
    ]);
  }

  // A bar per day, scaled to the largest day; the amount is written above each bar.
  function renderEarnings(days) {
    const chart = $("earnings-svg");
    chart.replaceChildren();
    chart.classList.toggle("empty", !days.length);
    $("earnings-empty").hidden = days.length > 0;
    if (!days.length) return;
    const W = 560, H = 200, left = 44, bottom = 24, top = 18;
    const max = Math.max(...days.map((d) => d.amount), 0.01);
    chart.setAttribute("aria-label",
      "Earnings per day: " + days.map((d) => d.day + " " + money(d.amount)).join(", "));
    const plotH = H - bottom - top;
    for (const frac of [0, 0.5, 1]) {
      const y = top + plotH * (1 - frac);
      chart.append(svg("line", { x1: left, x2: W, y1: y, y2: y, class: "grid-line" }));
      chart.append(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" },
        money(max * frac)));
    }
    const slot = (W - left - 8) / Math.max(days.length, 1);
    const barW = Math.min(48, slot * 0.7);
    // With many days, labels would overlap: amounts go to the tooltips, dates thin out.
    const showValues = slot >= 44;
    const labelEvery = Math.ceil(34 / slot);
    days.forEach((d, n) => {
      const h = plotH * (d.amount / max);
      const x = left + slot * n + (slot - barW) / 2;
      const bar = svg("rect", { x, y: top + plotH - h, width: barW, height: Math.max(h, 1),
        class: "bar" });
      bar.append(svg("title", {}, `${d.day}: ${money(d.amount)} in ${d.payments} payments`));
      chart.append(bar);
      if (showValues) {
        chart.append(svg("text", { x: x + barW / 2, y: top + plotH - h - 4, class: "value",
          "text-anchor": "middle" }, money(d.amount)));
      }
      if ((days.length - 1 - n) % labelEvery === 0) {
        chart.append(svg("text", { x: x + barW / 2, y: H - 6, class: "axis",
          "text-anchor": "middle" }, d.day.slice(5)));
      }
    });
  }

  // Each metric's average as a bar on a 0-100 scale with its target as a marker.
  // No analysis in the period: no meters at zero in red, but a word that there is no data.
  function renderQuality(q) {
    const none = !q.currentTrends.analyses;
    $("quality-empty").hidden = !none;
    $("quality-chart").hidden = none;
    $("quality").dataset.empty = String(none);
    if (none) {
      $("quality-svg").replaceChildren();
      fillTable("quality", q.insights, "No data yet", (i) => [
        { text: i.metric, header: true },
        { text: "–", num: true },
        { text: i.target, num: true },
        { text: "no data yet" },
      ]);
      for (const tr of $("quality").tBodies[0].rows) {
        if (tr.cells[3]) tr.cells[3].className = "status no-data";
      }
      renderDaily(q.insights, []);
      $("recommendations").replaceChildren(...q.recommendations.map((r) => el("li", {}, r)));
      return;
    }
    const chart = $("quality-svg");
    chart.replaceChildren();
    const W = 560, rowH = 34, left = 70, right = 20;
    chart.setAttribute("viewBox", `0 0 ${W} ${q.insights.length * rowH + 20}`);
    chart.setAttribute("aria-label", q.insights.map(
      (i) => `${i.metric} ${i.value} against target ${i.target} (${i.status})`).join("; "));
    const scale = (v) => left + (W - left - right) * Math.min(v, 100) / 100;
    q.insights.forEach((i, n) => {
      const y = 6 + n * rowH;
      const state = i.status === "below target" ? "below" : "ok";
      chart.append(svg("text", { x: 0, y: y + 16, class: "axis" }, i.metric));
      chart.append(svg("rect", { x: left, y, width: scale(100) - left, height: 22,
        class: "track" }));
      chart.append(svg("rect", { x: left, y, width: Math.max(scale(i.value) - left, 1),
        height: 22, class: "meter " + state }));
      chart.append(svg("line", { x1: scale(i.target), x2: scale(i.target), y1: y - 3,
        y2: y + 25, class: "target" }));
      // A short bar has its value after it, in ink: white on the track would not show.
      const inside = scale(i.value) - left >= 40;
      chart.append(svg("text", { x: inside ? scale(i.value) - 4 : scale(i.value) + 4,
        y: y + 16, class: inside ? "meter-label" : "meter-label outside",
        "text-anchor": inside ? "end" : "start" }, i.value));
    });
    const legendY = q.insights.length * rowH + 14;
    chart.append(svg("line", { x1: left, x2: left + 12, y1: legendY - 4, y2: legendY - 4,
      class: "target" }));
    chart.append(svg("text", { x: left + 16, y: legendY, class: "axis" }, "target"));
    fillTable("quality", q.insights, "No data", (i) => [
      { text: i.metric, header: true },
      { text: i.value, num: true },
      { text: i.target, num: true },
      { text: i.status },
    ]);
    for (const tr of $("quality").tBodies[0].rows) {
      const status = tr.cells[3];
      if (status) status.className = "status " + status.textContent.replace(/ /g, "-");
    }
    renderDaily(q.insights, q.daily);
    const recs = $("recommendations");
    recs.replaceChildren(...q.recommendations.map((r) => el("li", {}, r)));
  }

  // Daily averages as lines on a 0-100 scale, each against its dashed target line.
  function renderDaily(insights, daily) {
    const chart = $("daily-svg");
    chart.replaceChildren();
    chart.classList.toggle("empty", !daily.length);
    $("daily-heading").hidden = !daily.length;
    if (!daily.length) return;
    const W = 560, H = 150, left = 34, right = 118, top = 8, bottom = 22;
    const metrics = [["Quality", "averageQuality", "q"], ["Value", "averageValue", "v"]];
    const targets = Object.fromEntries(insights.map((i) => [i.metric, i.target]));
    const x = (n) => daily.length === 1 ? (left + W - right) / 2
      : left + (W - left - right) * n / (daily.length - 1);
    const y = (v) => top + (H - top - bottom) * (1 - Math.min(v, 100) / 100);
    for (const v of [0, 50, 100]) {
      chart.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid-line" }));
      chart.append(svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, v));
    }
    for (const [metric, key, cls] of metrics) {
      const target = targets[metric];
      if (target !== undefined) {
        chart.append(svg("line", { x1: left, x2: W - right, y1: y(target), y2: y(target),
          class: "goal " + cls }));
        chart.append(svg("text", { x: W - right + 4, y: y(target) + 4, class: "axis " + cls },
          `${metric} target ${target}`));
      }
      const points = daily.map((d, n) => `${x(n)},${y(d[key])}`).join(" ");
      chart.append(svg("polyline", { points, class: "trend " + cls }));
      daily.forEach((d, n) => {
        const dot = svg("circle", { cx: x(n), cy: y(d[key]), r: 3.5, class: "dot " + cls });
        dot.append(svg("title", {}, `${d.day}: ${metric} ${d[key]} (${d.analyses} analyses)`));
        chart.append(dot);
      });
    }
    const every = Math.ceil(daily.length / 8);
    daily.forEach((d, n) => {
      if ((daily.length - 1 - n) % every === 0) {
        chart.append(svg("text", { x: x(n), y: H - 6, class: "axis", "text-anchor": "middle" },
          d.day.slice(5)));
      }
    });
    chart.setAttribute("aria-label", "Daily averages: " + daily.map(
      (d) => `${d.day} quality ${d.averageQuality}, value ${d.averageValue}`).join("; "));
  }

  // A finding's cells: severity, kind (and agent), the title with a real example value where
  // the agent's title is a template (the template is its tooltip), and a location only when
  // one was found.
  function findingCells(f) {
    const title = el("span", { class: "title" }, f.example || f.title);
    if (f.example) title.setAttribute("title", "Pattern: " + f.title);
    const cells = [
      el("span", { class: "sev sev-" + String(f.severity || "none").toLowerCase() },
        f.severity || "–"),
      el("span", { class: "kind", title: f.agentId || "" }, f.kind),
      title,
    ];
    if (f.location) cells.push(el("code", { class: "loc" }, f.location));
    else title.classList.add("no-loc");
    return cells;
  }

  const RECENT_FINDINGS = 3;  // shown at once in a row; the rest behind "more"

  function renderRecent(rows) {
    const list = $("recent");
    const kept = new Map([...list.querySelectorAll(":scope > li[data-id]")].map(
      (li) => [li.dataset.id, li]));
    const nodes = rows.map((a) => {
      const sig = JSON.stringify(a);
      const old = kept.get(a.id);
      return old && old.dataset.sig === sig ? old : recentRow(a, sig);
    });
    if (!rows.length) {
      nodes.push(el("li", { class: "muted empty-state" },
        "No data yet: an analysis appears here when a log window closes " +
        "(at once for logmarket submit and the API)."));
    }
    list.replaceChildren(...nodes);
  }

  const PAYOUT = { pending: "paid, pending", held: "paid, on hold", settled: "paid",
    reversed: "reversed" };

  function recentRow(a, sig) {
    const headId = "analysis-" + a.id;
    const status = a.payoutStatus || (a.paid ? "settled" : null);
    const pay = a.paid
      ? el("span", { class: "pay pay-" + status }, money(a.paymentAmount) + " " + PAYOUT[status])
      : el("span", { class: "pay unpaid" }, money(a.paymentAmount) + " unpaid" +
        (a.subPKPId ? "" : " (no Sub-PKP to pay)"));
    const head = el("div", { class: "recent-head", id: headId },
      el("span", { class: "source" }, a.source),
      el("span", { class: "who" }, a.subPKPId || "anonymous"),
      el("span", {}, "quality " + a.quality),
      el("span", {}, "value " + a.valueScore),
      pay,
      el("time", { datetime: a.timestamp }, new Date(a.timestamp).toLocaleString()));
    if (a.payable) {
      head.insertBefore(el("button", { type: "button", class: "primary small",
        "data-action": "pay-analysis", "aria-describedby": headId }, "Pay"), head.lastChild);
    }
    const reversible = a.transactionId && status !== "reversed";
    if (reversible) {
      head.insertBefore(el("button", { type: "button", class: "danger small",
        "data-action": "reverse-analysis", "aria-describedby": headId }, "Reverse"),
      head.lastChild);
    }
    const li = el("li", { "data-id": a.id, "data-paid": String(a.paid),
      "data-payable": String(a.payable), "data-sub": a.subPKPId || "",
      "data-payout": status || "" }, head);
    if (reversible) {
      li.dataset.tx = a.transactionId;
      li.append(actionForm({ transactionId: "recent-" + a.transactionId }, "reverse",
        "Reason for reversing", "Reverse payment", "danger"));
    }
    li.append(el("p", { class: "error row-error", role: "alert", hidden: "" }));
    li.dataset.sig = sig;
    li.dataset.amount = String(a.paymentAmount);
    const row = (f) => el("li", { "data-fingerprint": f.fingerprint || "" }, ...findingCells(f),
      el("span", { class: "times" }, f.count > 1 ? "×" + count(f.count) : ""));
    const findings = el("ul", { class: "findings" },
      ...a.findings.slice(0, RECENT_FINDINGS).map(row));
    if (!a.findings.length) findings.append(el("li", { class: "muted" }, "no findings"));
    li.append(findings);
    const more = a.totalFindings - Math.min(a.findings.length, RECENT_FINDINGS);
    if (more > 0) {
      li.append(el("details", { class: "more" },
        el("summary", {}, `${count(more)} more finding${more === 1 ? "" : "s"}`),
        el("ul", { class: "findings" }, ...a.findings.slice(RECENT_FINDINGS).map(row)),
        a.totalFindings > a.findings.length
          ? el("p", { class: "muted" }, "The rest are in Findings above.") : ""));
    }
    return li;
  }

  // Pay an unpaid analysis from its row (what the triage's Pay is for a pending payout), or
  // reverse a paid one (with a reason): the row waits for the answer, says a failure in
  // itself, and the dashboard reads again.
  function onRecentClick(ev) {
    const target = ev.target.closest("button");
    const li = target && target.closest("#recent > li[data-id]");
    if (!li || target.type === "submit") return;
    const action = target.dataset.action;
    if (action === "pay-analysis") {
      recentAct(li, "pay", `${API}/pay/${encodeURIComponent(li.dataset.id)}`, undefined,
        (label) => `Paid ${label}.`);
    } else if (action === "reverse-analysis") {
      const form = li.querySelector('form[data-form="reverse"]');
      form.hidden = false;
      form.querySelector("input").focus();
    } else if (action === "cancel") {
      target.closest("form").hidden = true;
      li.querySelector('button[data-action="reverse-analysis"]').focus();
    }
  }

  function onRecentSubmit(ev) {
    const form = ev.target.closest("form[data-form=\"reverse\"]");
    const li = form && form.closest("#recent > li[data-id]");
    if (!li) return;
    ev.preventDefault();
    const input = form.querySelector("input");
    const reason = input.value.trim();
    input.setAttribute("aria-invalid", String(!reason));
    if (!reason) {
      rowError(li, "Say why this payment is reversed: the reason is kept with the reversal.");
      input.focus();
      return;
    }
    recentAct(li, "reverse", `${API}/transactions/${encodeURIComponent(li.dataset.tx)}/reverse`,
      { reason }, (label) => `Reversed ${label}: ${reason}`);
  }

  async function recentAct(li, what, path, body, done) {
    const label = `${money(li.dataset.amount)} to ${li.dataset.sub}`;
    rowError(li, "");
    li.setAttribute("aria-busy", "true");
    for (const b of li.querySelectorAll("button")) b.disabled = true;
    try {
      await api(path, { method: "POST", body });
    } catch (err) {
      li.setAttribute("aria-busy", "false");
      for (const b of li.querySelectorAll("button")) b.disabled = false;
      if (err instanceof AuthFailed) { showLogin(err.message); return; }
      rowError(li, `Could not ${what} ${label}: ${err.message}`);
      return;
    }
    li.setAttribute("aria-busy", "false");
    setText("recent-status", done(label));
    refresh().catch((err) => showError("load-error", "Could not refresh: " + err.message));
  }

  // -- findings, grouped ----------------------------------------------------------------------

  const FILTERS = [["filter-agent", "agent"], ["filter-severity", "severity"],
    ["filter-sub", "subPKPId"], ["filter-paid", "paid"]];

  function findingsQuery() {
    const q = new URLSearchParams({ limit: "100" });
    for (const [id, name] of FILTERS) if ($(id).value) q.set(name, $(id).value);
    return q.toString();
  }

  const filtering = () => FILTERS.some(([id]) => $(id).value);

  // The choices of a filter, keeping what is chosen (even when it is no longer offered).
  function fillSelect(id, choices) {
    const select = $(id);
    const chosen = select.value;
    const first = select.options[0];
    const options = choices.map(([value, label]) => el("option", { value }, label));
    if (chosen && !choices.some(([value]) => value === chosen)) {
      options.push(el("option", { value: chosen }, chosen));
    }
    select.replaceChildren(first, ...options);
    select.value = chosen;
  }

  function renderFindings(d) {
    fillSelect("filter-agent", d.agents.map((a) => [a.id, a.name]));
    fillSelect("filter-sub", d.subPKPs.map((s) => [s, s]));
    const shown = d.groups.length < d.totalGroups ? ` (${count(d.groups.length)} shown)` : "";
    setText("findings-count", d.totalGroups ? `${count(d.totalGroups)} distinct${shown}` : "");
    $("findings").dataset.total = String(d.totalGroups);
    const body = $("findings").tBodies[0];
    if (!d.groups.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted empty-state" },
        filtering() ? "No findings match these filters." : "No data yet: no findings.")));
      return;
    }
    body.replaceChildren(...d.groups.map(groupRow));
  }

  function groupRow(g) {
    const [sev, kind, title, loc] = findingCells(g);
    const what = el("div", { class: "what" }, kind, " ", title);
    if (loc) what.append(" ", loc);
    const analyses = `${count(g.analyses)} (${count(g.paidAnalyses)} paid, ` +
      `${count(g.unpaidAnalyses)} unpaid)`;
    const subs = g.subPKPs.join(", ") +
      (g.subPKPCount > g.subPKPs.length ? ` +${g.subPKPCount - g.subPKPs.length}` : "");
    const when = (iso) => el("time", { datetime: iso }, new Date(iso).toLocaleString());
    const tr = el("tr", { "data-fingerprint": g.fingerprint, "data-kind": g.kind,
      "data-severity": g.severity || "", "data-agent": g.agentId || "",
      "data-occurrences": String(g.occurrences), "data-analyses": String(g.analyses) },
    el("td", {}, sev), el("td", {}, what),
    el("td", { class: "num" }, "×" + count(g.occurrences)),
    el("td", {}, analyses), el("td", {}, subs || "anonymous"),
    el("td", { class: "first-seen" }, when(g.firstSeen)),
    el("td", { class: "last-seen" }, when(g.lastSeen)));
    return tr;
  }

  async function refreshFindings() {
    try {
      renderFindings(await api(API + "/findings?" + findingsQuery()));
    } catch (err) {
      if (err instanceof AuthFailed) showLogin(err.message);
      else showError("load-error", "Could not read the findings: " + err.message);
    }
  }

  // -- triage -------------------------------------------------------------------------------
  // Pending and held payouts with their findings. A row whose payout did not change is kept
  // as it is (with an open form, what was typed in it, its focus and its error), so live
  // refreshes never take a half-typed reason away.

  const STATUS = { pending: "Pending", held: "Held" };

  // Where focus is in the triage list, as a selector that finds the same control again in
  // a row built anew (after a verdict, say), so keyboard users keep their place.
  function focusedControl(list) {
    const b = document.activeElement;
    const li = b && list.contains(b) && b.tagName === "BUTTON" ? b.closest("li.payout") : null;
    if (!li) return null;
    const finding = b.closest("li[data-fingerprint]");
    return `li.payout[data-tx="${CSS.escape(li.dataset.tx)}"] ` +
      (finding ? `li[data-fingerprint="${CSS.escape(finding.dataset.fingerprint)}"] ` : "") +
      (b.dataset.verdict ? `button[data-verdict="${b.dataset.verdict}"]`
        : `.actions button[data-action="${b.dataset.action}"]`);
  }

  function renderTriage(rows) {
    const list = $("triage");
    const focused = focusedControl(list);
    const kept = new Map([...list.querySelectorAll(":scope > li[data-tx]")].map(
      (li) => [li.dataset.tx, li]));
    const nodes = rows.map((p) => {
      const sig = JSON.stringify(p);
      const old = kept.get(p.transactionId);
      return old && old.dataset.sig === sig ? old : payoutRow(p, sig);
    });
    if (!rows.length) nodes.push(el("li", { class: "muted" }, "Nothing waiting for triage"));
    nodes.forEach((node, n) => {
      if (list.children[n] !== node) list.insertBefore(node, list.children[n] || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();
    setText("triage-count", rows.length ? `${rows.length} waiting` : "");
    const again = focused && list.querySelector(focused);
    if (again && again !== document.activeElement) again.focus();
  }

  function payoutRow(p, sig) {
    const a = p.analysis;
    const headId = "payout-" + p.transactionId;
    const when = p.status === "held"
      ? el("span", { class: "when" }, "on hold" + (p.note ? ": " + p.note : ""))
      : el("span", { class: "when" }, "settles ",
        el("time", { datetime: p.settlesAt }, new Date(p.settlesAt).toLocaleString()));
    const head = el("div", { class: "payout-head", id: headId },
      el("span", { class: "badge badge-" + p.status }, STATUS[p.status] || p.status),
      el("span", { class: "amount" }, money(p.amount)),
      el("span", { class: "who" }, "to " + (p.subPKPId || "anonymous")),
      el("span", { class: "source" }, a.source),
      el("span", {}, "quality " + a.quality),
      el("span", {}, "value " + a.valueScore),
      when);
    const button = (action, label, cls) => el("button",
      { type: "button", "data-action": action, class: cls, "aria-describedby": headId }, label);
    const hold = button("hold", "Hold", "secondary");
    if (p.status === "held") hold.disabled = true;
    const actions = el("div", { class: "actions", role: "group", "aria-label": "Payout actions" },
      button("pay", "Pay", "primary"), hold, button("reverse", "Reverse", "danger"));
    const findings = el("ul", { class: "findings triage-findings", "aria-label": "Findings paid for" },
      ...a.findings.map(findingRow));
    if (!a.findings.length) findings.append(el("li", { class: "muted" }, "no findings"));
    const li = el("li", { class: "payout", "data-tx": p.transactionId, "data-status": p.status,
      "data-sub": p.subPKPId || "" },
    head, actions,
    actionForm(p, "hold", "Note (optional)", "Hold payout", "secondary"),
    actionForm(p, "reverse", "Reason for reversing", "Reverse payment", "danger"),
    el("p", { class: "error row-error", role: "alert", hidden: "" }), findings);
    li.dataset.sig = sig;
    li.dataset.amount = String(p.amount);
    return li;
  }

  function actionForm(p, kind, label, submit, cls) {
    const id = `${kind}-input-${p.transactionId}`;
    const input = el("input", { id, name: kind === "hold" ? "note" : "reason", type: "text",
      maxlength: "1000", autocomplete: "off", spellcheck: "true" });
    if (kind === "reverse") input.setAttribute("aria-required", "true");
    return el("form", { class: "action-form", "data-form": kind, hidden: "", novalidate: "" },
      el("label", { for: id }, label), input,
      el("button", { type: "submit", class: cls }, submit),
      el("button", { type: "button", class: "secondary", "data-action": "cancel" }, "Cancel"));
  }

  function findingRow(f) {
    const verdict = f.valid === true ? "valid" : f.valid === false ? "invalid" : "none";
    const toggle = (value, label) => el("button", {
      type: "button", class: "verdict-btn verdict-" + value, "data-verdict": value,
      "aria-pressed": String(verdict === value),
    }, label);
    return el("li", { "data-fingerprint": f.fingerprint, "data-verdict": verdict },
      ...findingCells(f),
      el("span", { class: "verdict", role: "group",
        "aria-label": "Verdict on: " + (f.example || f.title) },
        toggle("valid", "Valid"), toggle("invalid", "Invalid")));
  }

  function rowError(li, message) {
    const node = li.querySelector(".row-error");
    node.textContent = message || "";
    node.hidden = !message;
  }

  function setBusy(li, busy) {
    li.setAttribute("aria-busy", String(busy));
    for (const b of li.querySelectorAll("button")) {
      if (busy) b.disabled = true;
      else b.disabled = b.dataset.action === "hold" && li.dataset.status === "held";
    }
  }

  // Run an action of a row: its buttons wait for the answer; the outcome is said in the
  // panel's status line, a failure in the row itself; the dashboard then reads again.
  async function act(li, what, path, body, done) {
    const back = focusedControl($("triage"));
    rowError(li, "");
    setBusy(li, true);
    try {
      await api(API + path, { method: "POST", body });
    } catch (err) {
      setBusy(li, false);
      if (err instanceof AuthFailed) showLogin(err.message);
      else rowError(li, `Could not ${what}: ${err.message}`);
      refocus(back);
      return;
    }
    setBusy(li, false);
    setText("triage-status", done);
    refresh().then(() => refocus(back),
      (err) => showError("load-error", "Could not refresh: " + err.message));
  }

  // A disabled button drops focus; give it back to the same control if nothing else has it.
  function refocus(selector) {
    const again = selector && $("triage").querySelector(selector);
    const active = document.activeElement;
    if (again && (!active || active === document.body)) again.focus();
  }

  function payoutLabel(li) {
    return `${money(li.dataset.amount)} to ${li.dataset.sub || "anonymous"}`;
  }

  function openForm(li, kind) {
    for (const f of li.querySelectorAll("form[data-form]")) f.hidden = f.dataset.form !== kind;
    rowError(li, "");
    li.querySelector(`form[data-form="${kind}"] input`).focus();
  }

  function onTriageClick(ev) {
    const target = ev.target.closest("button");
    const li = target && target.closest("li.payout");
    if (!li || target.type === "submit") return;
    const tx = encodeURIComponent(li.dataset.tx);
    const action = target.dataset.action;
    if (action === "pay") {
      act(li, "pay " + payoutLabel(li), `/payouts/${tx}/settle`, undefined,
        `Paid ${payoutLabel(li)}.`);
    } else if (action === "hold" || action === "reverse") {
      openForm(li, action);
    } else if (action === "cancel") {
      const form = target.closest("form");
      form.hidden = true;
      li.querySelector(`button[data-action="${form.dataset.form}"]`).focus();
    } else if (target.dataset.verdict) {
      const finding = target.closest("li[data-fingerprint]");
      const valid = target.dataset.verdict === "valid";
      const title = finding.querySelector(".title").textContent;
      act(li, `mark “${title}” ${target.dataset.verdict}`,
        `/findings/${encodeURIComponent(finding.dataset.fingerprint)}/verdict`, { valid },
        `Marked “${title}” ${target.dataset.verdict}.`);
    }
  }

  function onTriageSubmit(ev) {
    const form = ev.target.closest("form[data-form]");
    const li = form && form.closest("li.payout");
    if (!li) return;
    ev.preventDefault();
    const input = form.querySelector("input");
    const text = input.value.trim();
    const tx = encodeURIComponent(li.dataset.tx);
    if (form.dataset.form === "hold") {
      act(li, "hold " + payoutLabel(li), `/payouts/${tx}/hold`, text ? { note: text } : undefined,
        `Held ${payoutLabel(li)}.`);
      return;
    }
    input.setAttribute("aria-invalid", String(!text));
    if (!text) {
      rowError(li, "Say why this payment is reversed: the reason is kept with the reversal.");
      input.focus();
      return;
    }
    act(li, "reverse " + payoutLabel(li), `/transactions/${tx}/reverse`, { reason: text },
      `Reversed ${payoutLabel(li)}: ${text}`);
  }

  // -- live events --------------------------------------------------------------------------

  function setStatus(state, text) {
    const node = $("live-status");
    node.dataset.state = state;
    node.textContent = text;
  }

  function describe(type, p) {
    const who = p.subPKPId || "anonymous";
    switch (type) {
      case "log.payment.executed":
        return `Payment ${money(p.amount)} to ${who}` + (p.status === "pending" && p.settlesAt
          ? `, pending until ${new Date(p.settlesAt).toLocaleString()}` : "");
      case "log.payment.settled": return `Settled ${money(p.amount)} to ${who}`;
      case "log.payment.held":
        return `Held ${money(p.amount)} to ${who}` + (p.note ? `: ${p.note}` : "");
      case "log.payment.refused":
        return `Refused ${money(p.amount)} to ${who} (${p.reason}): ${p.detail || ""}`;
      case "log.payment.reversed":
        return `Reversed ${money(p.amount)} to ${who}: ${p.reason}`;
      case "game.points.awarded": return `${who} earned ${p.points} points`;
      case "achievement.unlocked":
        return `${who} unlocked “${(p.reward && p.reward.badge) || p.achievement}”`;
      case "level.up": return `${who} reached level ${p.level}`;
      case "security.secret.leaked": return `Secret leaked in a log of ${who}: ${p.threats.join("; ")}`;
      case "gap": return `${p.lost} events were missed`;
      default: return type;
    }
  }

  // One event at the top of the feed; ``when`` is when it was recorded (now, when live).
  function feedItem(id, type, payload, when, history) {
    const item = el("li", { class: "event ev-" + type.replace(/\./g, "-"), "data-type": type },
      el("time", { datetime: when.toISOString(), title: when.toLocaleString() },
        when.toTimeString().slice(0, 8)),
      el("span", { class: "ev-type" }, type),
      el("span", { class: "ev-text" }, describe(type, payload)));
    if (id !== null) item.dataset.id = id;
    if (history) item.dataset.history = "true";
    const feed = $("live-feed");
    feed.prepend(item);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    $("feed-empty").hidden = true;
  }

  function onEvent(id, type, data) {
    if (id !== null) lastEventId = id;
    let payload = {};
    try { payload = JSON.parse(data || "{}"); } catch (_) { payload = {}; }
    feedItem(id, type, payload, new Date(), false);
    if (REFRESH_EVENTS.has(type) || type === "gap") scheduleRefresh();
  }

  // The feed opens with the last events (the stream then resumes after the newest of them,
  // so nothing is shown twice and nothing is missed in between).
  async function loadHistory() {
    $("live-feed").replaceChildren();
    $("feed-empty").hidden = false;
    lastEventId = null;
    let recent;
    try {
      recent = await api(`${API}/events/recent?limit=${FEED_MAX}`);
    } catch (err) {
      if (err instanceof AuthFailed) showLogin(err.message);
      else showError("load-error", "Could not read the recent events: " + err.message);
      return;
    }
    for (const e of recent.events.slice().reverse()) {
      feedItem(String(e.id), e.type, e.payload, new Date(e.created), true);
    }
    // No event yet: resume from 0, so one recorded meanwhile is not missed.
    lastEventId = recent.lastId === null ? "0" : String(recent.lastId);
    $("live-feed").dataset.history = String(recent.events.length);
  }

  // An SSE parser (the WHATWG rules): fields per line, an event ends at a blank line.
  function sseParser() {
    let buffer = "", dataLines = [], type = "", id = null;
    return function feed(chunk) {
      buffer += chunk;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();  // an unfinished line waits for the next chunk
      for (const line of lines) {
        if (line === "") {
          if (dataLines.length || type) onEvent(id, type || "message", dataLines.join("\n"));
          dataLines = []; type = ""; id = null;
          continue;
        }
        if (line.startsWith(":")) continue;  // a keepalive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") dataLines.push(value);
        else if (field === "event") type = value;
        else if (field === "id" && !value.includes("\0")) id = value;
      }
    };
  }

  function stopStream() {
    if (streamAbort) streamAbort.abort();
    streamAbort = null;
  }

  // EventSource cannot send Authorization, so the stream is read with fetch; on a drop it
  // reconnects with Last-Event-ID (and ?since=) so nothing is missed, backing off 1 s x2 to 30 s.
  async function startStream() {
    stopStream();
    const controller = new AbortController();
    streamAbort = controller;
    let backoff = 1000;
    while (!controller.signal.aborted) {
      try {
        const headers = { Authorization: "Bearer " + token, Accept: "text/event-stream" };
        let url = "/events";
        if (lastEventId !== null) {
          headers["Last-Event-ID"] = lastEventId;
          url += "?since=" + encodeURIComponent(lastEventId);
        }
        setStatus("connecting", "Connecting…");
        const resp = await fetch(url, { headers, cache: "no-store", signal: controller.signal });
        if (resp.status === 401 || resp.status === 403) {
          showLogin("The event stream refused the token; enter it again.");
          return;
        }
        if (!resp.ok || !resp.body) throw new Error("HTTP " + resp.status);
        setStatus("open", "Live");
        // Where this connection resumed from, for people (and tests) checking no gap.
        const status = $("live-status");
        status.dataset.opens = String(Number(status.dataset.opens || "0") + 1);
        status.dataset.resumedFrom = lastEventId === null ? "" : lastEventId;
        backoff = 1000;
        scheduleRefresh();  // catch up on anything committed before the stream opened
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        const feed = sseParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          feed(value);
        }
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      setStatus("connecting", "Reconnecting…");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }

  // -- start --------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) {
        showError("token-error", "Enter the admin token.");
        return;
      }
      $("token-input").value = "";
      showError("token-error", "");
      useToken(value);
    });
    $("sign-out").addEventListener("click", () => showLogin(""));
    $("triage").addEventListener("click", onTriageClick);
    $("triage").addEventListener("submit", onTriageSubmit);
    $("recent").addEventListener("click", onRecentClick);
    $("recent").addEventListener("submit", onRecentSubmit);
    for (const [id] of FILTERS) $(id).addEventListener("change", refreshFindings);
    $("findings-filters").addEventListener("submit", (ev) => ev.preventDefault());
    $("filter-clear").addEventListener("click", () => {
      for (const [id] of FILTERS) $(id).value = "";
      refreshFindings();
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) useToken(saved);
    else $("token-input").focus();
  });
})();
