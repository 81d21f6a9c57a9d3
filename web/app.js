// SPDX-License-Identifier: MIT
// The sales dashboard (served by funnel-web as /assets/app.js): reads /api/v1/*, follows
// /api/v1/stream, draws the funnel with Chart.js; English and Chinese; no inline code (CSP).
"use strict";

(function () {
  // ------------------------------------------------------------------------------------------
  // Words

  const TEXT = {
    en: {
      title: "Sales funnel", lastUpdate: "Last update", scope: "View", scopeOrg: "Whole company",
      scopeTeam: "A team", scopeRep: "A sales rep", team: "Team", rep: "Sales rep",
      period: "Period", today: "Today", week: "This week", month: "This month",
      quarter: "This quarter", all: "All time", day: "A chosen day", date: "Date",
      summary: "Summary", deals: "New deals", won: "Deals won", lost: "Deals lost",
      winRate: "Win rate", wonAmount: "Won amount", funnel: "Funnel", stage: "Stage",
      entered: "Deals entered", conv: "Conversion %", lostAt: "Lost here",
      days: "Avg days in stage", leaderboard: "Leaderboard", boardReps: "Sales reps",
      boardTeams: "Teams", name: "Name", firstConv: "Lead conversion %",
      alertsNow: "Alerts firing now", noAlerts: "Nothing is firing.", noHistory: "No alerts yet.", who: "Who",
      manager: "Manager", kpi: "Measure", value: "Value", bound: "Limit crossed",
      since: "Since", history: "Recent alert history", when: "When", state: "State",
      tz: "Times in", staleNote: "The feed is stalled: the numbers may be out of date.",
      org: "Whole company", repsOf: "reps of team %s", allReps: "all sales reps",
      allTeams: "all teams", noTeam: "(no team)", firing: "firing", resolved: "resolved",
      live: "Live", idle: "Idle (no new deals)", behind: "Catching up", stalled: "Stalled",
      connecting: "Connecting…", lostConn: "Reconnecting…",
      chartEntered: "Deals entered", chartLost: "Lost here", noData: "No deals in this period.",
      loadFailed: "Could not load %s: %s", convTo: "→ %s",
      kpiName: {
        entered: "New deals at %s", conv: "Conversion % at %s", exit_conv: "Moved on % at %s",
        dwell_hours: "Hours in %s", stalled: "Deals stuck in %s", activity: "Activities: %s",
        win_rate: "Win rate", won: "Deals won", won_amount: "Won amount",
        feedback_avg: "Customer rating", complaints: "Complaints",
        cycle_days: "Avg days to win", avg_won_amount: "Avg won deal",
      },
      windowName: { day: "Day %s", week: "Week %s", month: "Month %s", quarter: "Quarter %s", year: "Year %s", all: "All time" },
      stages: {},
      activities: { call: "call", visit: "visit", email: "email", meeting: "meeting", follow_up: "follow-up" },
      pipeline: "Open pipeline now", openDeals: "Open deals", openAmount: "Open amount", total: "Total",
      pipelineNote: "Deals reached and neither won nor lost, at their furthest stage, whatever the period chosen.",
      velocity: "Sales velocity", perDay: "%s per day",
      velocityFormula: "= %s open deals × %s win rate × %s avg won deal ÷ %s avg days to win",
      velocityNone: "(needs won and lost deals and a cycle time in the period)",
      cycleDays: "Avg days to win", avgWon: "Avg won deal", year: "This year",
      scorecard: "Scorecard", scorePeriod: "Scored period", score: "Score", rank: "Rank",
      rankOf: "%s of %s", rankTeam: "%s of %s in the team", target: "Target", expected: "Expected by now",
      attainment: "Attainment", points: "Points", weight: "Weight", weighted: "Weighted",
      status: "Status", grade: "Grade", ranking: "Ranking", noRanking: "No scorecards in this period yet.",
      adjustments: "Adjustments after the period closed",
      adjSummary: "%s change(s) after the scorecard went final: adjusted score %s, grade %s (the grade above stays).",
      adjLine: "%s: %s from %s to %s (%s), score %s, grade %s; events: %s",
      pickScope: "Choose a team or a sales rep to see a scorecard.",
      noScorecard: "No scorecard for %s in %s yet.", unknownEvents: "unknown",
      statusName: { scored: "scored", no_target: "no target (left out)", no_data: "no data (left out)" },
      stateName: { live: "Live: moves with the data and the pace of the period", grace: "Grace period: still moves, final soon", final: "Final since %s" },
    },
    zh: {
      title: "销售漏斗", lastUpdate: "最近更新", scope: "查看", scopeOrg: "全公司",
      scopeTeam: "团队", scopeRep: "销售", team: "团队", rep: "销售",
      period: "时间", today: "今天", week: "本周", month: "本月", quarter: "本季度",
      all: "全部", day: "指定日期", date: "日期", summary: "概览", deals: "新商机",
      won: "赢单数", lost: "丢单数", winRate: "赢单率", wonAmount: "赢单金额",
      funnel: "漏斗", stage: "阶段", entered: "进入商机数", conv: "转化率",
      lostAt: "本阶段丢单", days: "平均停留天数", leaderboard: "排行榜",
      boardReps: "销售", boardTeams: "团队", name: "名称", firstConv: "线索转化率",
      alertsNow: "当前告警", noAlerts: "当前没有告警。", noHistory: "暂无告警记录。", who: "对象", manager: "经理",
      kpi: "指标", value: "数值", bound: "越过的界限", since: "开始时间",
      history: "最近告警记录", when: "时间", state: "状态", tz: "时区",
      staleNote: "数据流已停滞：数字可能不是最新的。", org: "全公司",
      repsOf: "团队 %s 的销售", allReps: "全部销售", allTeams: "全部团队", noTeam: "（无团队）",
      firing: "告警中", resolved: "已恢复", live: "实时", idle: "空闲（无新数据）",
      behind: "追赶中", stalled: "已停滞", connecting: "连接中…", lostConn: "重新连接中…",
      chartEntered: "进入商机数", chartLost: "本阶段丢单", noData: "该时间段没有商机。",
      loadFailed: "无法加载%s：%s", convTo: "→ %s",
      kpiName: {
        entered: "%s阶段新商机", conv: "%s阶段转化率", exit_conv: "%s阶段推进率",
        dwell_hours: "%s阶段停留小时", stalled: "%s阶段停滞商机", activity: "活动：%s",
        win_rate: "赢单率", won: "赢单数", won_amount: "赢单金额", feedback_avg: "客户评分",
        complaints: "投诉", cycle_days: "平均赢单天数", avg_won_amount: "平均赢单金额",
      },
      windowName: { day: "%s", week: "%s 周", month: "%s 月", quarter: "%s 季度", year: "%s 年", all: "全部时间" },
      stages: { lead: "线索", qualified: "已确认", proposal: "方案", negotiation: "谈判", won: "赢单" },
      activities: { call: "电话", visit: "拜访", email: "邮件", meeting: "会议", follow_up: "跟进" },
      pipeline: "当前在途商机", openDeals: "在途商机数", openAmount: "在途金额", total: "合计",
      pipelineNote: "已进入某阶段、尚未赢单或丢单的商机，按其最远阶段统计，与所选时间无关。",
      velocity: "销售速度", perDay: "每天 %s",
      velocityFormula: "= 在途商机 %s × 赢单率 %s × 平均赢单金额 %s ÷ 平均赢单天数 %s",
      velocityNone: "（需要该时间段内有赢单、丢单和成交周期）",
      cycleDays: "平均赢单天数", avgWon: "平均赢单金额", year: "今年",
      scorecard: "绩效评分卡", scorePeriod: "考核周期", score: "得分", rank: "排名",
      rankOf: "第 %s / %s", rankTeam: "团队内第 %s / %s", target: "目标", expected: "截至目前应达",
      attainment: "达成率", points: "得分点", weight: "权重", weighted: "加权得分",
      status: "状态", grade: "等级", ranking: "排名榜", noRanking: "本周期还没有评分卡。",
      adjustments: "周期结束后的调整",
      adjSummary: "评分卡定稿后有 %s 次变动：调整后得分 %s，等级 %s（上方等级不变）。",
      adjLine: "%s：%s 从 %s 变为 %s（%s），得分 %s，等级 %s；事件：%s",
      pickScope: "请选择团队或销售以查看评分卡。",
      noScorecard: "%s 在 %s 还没有评分卡。", unknownEvents: "未知",
      statusName: { scored: "已计分", no_target: "无目标（不计）", no_data: "无数据（不计）" },
      stateName: { live: "进行中：随数据和周期进度变化", grace: "宽限期：仍会变化，即将定稿", final: "已定稿（%s）" },
    },
  };

  const WINDOW_ALIASES = ["today", "week", "month", "quarter", "all"];
  const LANG_KEY = "funneld.lang";

  // ------------------------------------------------------------------------------------------
  // State

  const st = {
    lang: "en",
    meta: null,
    view: { scope: "org", id: "", window: "today", board: "rep", by: "won_amount", order: "desc", sp: "month" },
    lastScore: 0,          // Date.now() of the last scorecard re-read on a change
    scoreTimer: null,
    score: null,           // the last scorecard answer (null: none)
    ranking: null,
    resolved: null,        // the resolved window id of the last funnel answer
    lastBulk: 0,           // Date.now() of the last re-read for a bulk entry
    bulkTimer: null,       // the pending one
    funnel: null,
    teams: [], reps: [],
    status: null,
    lastUpdate: null,      // Date of the last data refresh
    chart: null,
    source: null,
    position: null,
    pending: new Set(),    // what to re-fetch: funnel, board, alerts, lists
    timer: null,
    busy: false,
    generation: 0,         // bumps when the view changes: answers of an older one are dropped
  };

  const $ = (id) => document.getElementById(id);

  function t(key) {
    const v = TEXT[st.lang][key];
    return v === undefined ? TEXT.en[key] : v;
  }
  function fmt(s, ...args) {
    let i = 0;
    return s.replace(/%s/g, () => String(args[i++]));
  }
  function locale() { return st.lang === "zh" ? "zh-CN" : "en-GB"; }
  function stageName(s) { return TEXT[st.lang].stages[s] || s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, " "); }

  // ------------------------------------------------------------------------------------------
  // Numbers in a sales manager's words

  function fmtInt(n) {
    if (n === null || n === undefined) return "–";
    return new Intl.NumberFormat(locale()).format(n);
  }
  // A rate (0..1, a JSON number) as a percentage with one decimal; "–" when absent.
  function fmtPct(r) {
    if (r === null || r === undefined || !isFinite(r)) return "–";
    return (r * 100).toFixed(1) + "%";
  }
  // An amount as stored ("1054.00", any size): grouped by thousands, exact (no float).
  function fmtMoney(s) {
    if (s === null || s === undefined) return "–";
    const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(s));
    if (!m) return String(s);
    const whole = m[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return m[1] + whole + "." + ((m[3] || "") + "00").slice(0, 2);
  }
  function fmtDays(hours) {
    if (hours === null || hours === undefined || !isFinite(hours)) return "–";
    return (hours / 24).toFixed(1);
  }
  function fmtNum(v) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    return String(Math.round(v * 10000) / 10000);
  }

  function tz() { return (st.meta && st.meta.timezone) || "UTC"; }
  function fmtTime(d, withDate) {
    const o = { timeZone: tz(), hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
    // "7 Dec 2026, 09:22:29" in English (07/12 reads as July in the US), 2026/12/07 in Chinese.
    if (withDate) { o.year = "numeric"; o.month = st.lang === "zh" ? "2-digit" : "short"; o.day = st.lang === "zh" ? "2-digit" : "numeric"; }
    return new Intl.DateTimeFormat(locale(), o).format(d);
  }
  function fmtDate(iso) {
    if (!iso) return "–";
    return fmtTime(new Date(iso), true);
  }
  function windowText(id) {
    if (!id) return "";
    if (id === "all") return TEXT[st.lang].windowName.all;
    const i = id.indexOf(":");
    const kind = id.slice(0, i), val = id.slice(i + 1);
    if (kind === "day") {
      // Noon UTC of that date is the same calendar day in every timezone.
      const d = new Date(val + "T12:00:00Z");
      return new Intl.DateTimeFormat(locale(), { timeZone: "UTC", year: "numeric", month: "long", day: "numeric", weekday: "long" }).format(d);
    }
    return fmt(TEXT[st.lang].windowName[kind] || "%s", val);
  }

  // A KPI id of an alert (conv:lead, win_rate, activity:call...) in words.
  function kpiText(kpi) {
    const names = TEXT[st.lang].kpiName;
    const i = kpi.indexOf(":");
    if (i < 0) return names[kpi] || kpi;
    const kind = kpi.slice(0, i), arg = kpi.slice(i + 1);
    if (kind === "activity") return fmt(names.activity, TEXT[st.lang].activities[arg] || arg);
    return names[kind] ? fmt(names[kind], stageName(arg)) : kpi;
  }
  function kpiValue(kpi, v) {
    if (v === null || v === undefined) return "–";
    if (/^(conv|exit_conv):/.test(kpi) || kpi === "win_rate") return fmtPct(v);
    if (kpi === "won_amount") return fmtMoney(Number(v).toFixed(2));
    if (/^dwell_hours:/.test(kpi)) return fmtNum(v) + " h";
    if (kpi === "avg_won_amount") return fmtMoney(Number(v).toFixed(2));
    return fmtNum(v);
  }

  // ------------------------------------------------------------------------------------------
  // The view in the URL hash

  function readHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    const v = st.view;
    const scope = p.get("scope");
    v.scope = ["org", "team", "rep"].includes(scope) ? scope : "org";
    v.id = v.scope === "org" ? "" : (p.get("id") || "");
    const w = p.get("window") || "today";
    v.window = WINDOW_ALIASES.includes(w) || /^day:\d{4}-\d{2}-\d{2}$/.test(w) ? w : "today";
    v.board = p.get("board") === "team" ? "team" : "rep";
    const by = p.get("by");
    v.by = ["entered", "won", "win_rate", "won_amount", "conv"].includes(by) ? by : "won_amount";
    v.order = p.get("order") === "asc" ? "asc" : "desc";
    const sp = p.get("sp");
    v.sp = ["month", "quarter", "year"].includes(sp) ? sp : "month";
  }
  function writeHash() {
    const v = st.view;
    const p = new URLSearchParams();
    p.set("scope", v.scope);
    if (v.scope !== "org" && v.id) p.set("id", v.id);
    p.set("window", v.window);
    p.set("board", v.board);
    p.set("by", v.by);
    p.set("order", v.order);
    p.set("sp", v.sp);
    const h = "#" + p.toString();
    if (location.hash !== h) history.replaceState(null, "", h);
  }

  // ------------------------------------------------------------------------------------------
  // API

  async function api(path, params) {
    const q = params ? "?" + new URLSearchParams(params).toString() : "";
    const r = await fetch("/api/v1/" + path + q, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const why = body && body.error ? body.error : "HTTP " + r.status;
      throw new Error(why);
    }
    return body;
  }

  function windowParam() { return st.view.window; }
  function stages() { return (st.meta && st.meta.stages) || []; }
  function byField(by) {
    if (by === "entered") return "entered:" + stages()[0];
    if (by === "conv") return "conv:" + stages()[0];
    return by;
  }

  function showError(e, what) {
    const el = $("error");
    if (!e) { el.hidden = true; el.textContent = ""; return; }
    el.textContent = fmt(t("loadFailed"), what, e.message || e);
    el.hidden = false;
  }

  async function loadFunnel(gen) {
    const v = st.view;
    const p = { scope: v.scope, window: windowParam() };
    if (v.scope !== "org") {
      if (!v.id) { st.funnel = null; renderFunnel(); return; }
      p.id = v.id;
    }
    const f = await api("funnel", p);
    if (gen !== st.generation) return;
    st.funnel = f;
    st.resolved = f.window;
    if (st.position === null) st.position = f.position;
    renderFunnel();
  }

  async function loadLists(gen) {
    const [teams, reps] = await Promise.all([api("teams", { window: windowParam() }), api("reps", { window: windowParam() })]);
    if (gen !== st.generation) return;
    st.teams = teams.teams || [];
    st.reps = reps.reps || [];
    // A team or rep view before an id is picked loads no funnel: the lists tell the window, so
    // that change events still refresh them.
    if (teams.window) st.resolved = teams.window;
    renderPickers();
  }

  function boardParams() {
    const v = st.view;
    const p = { scope: v.board, window: windowParam(), limit: "20", order: v.order };
    if (v.board === "rep") {
      let team = null;
      if (v.scope === "team" && v.id) team = v.id;
      if (v.scope === "rep" && v.id) {
        const r = st.reps.find((x) => x.id === v.id);
        if (r && r.team) team = r.team;
      }
      if (team) p.team = team;
    }
    return p;
  }

  async function loadBoard(gen) {
    const v = st.view;
    const p = boardParams();
    p.by = byField(v.by);
    const b = await api("leaderboard", p);
    if (gen !== st.generation) return;
    renderBoard(b);
  }

  // The scorecard of the team or rep shown (none for the org), and the ranking it belongs to:
  // the team's reps for a team or a rep with a team, else every rep. The ranking is read first
  // and the scorecard only for an id it ranks (the scorer ranks every scorecard it writes), so
  // that an id without one costs no 404.
  async function loadScore(gen) {
    const v = st.view;
    let team = null;
    if (v.scope === "team" && v.id) team = v.id;
    if (v.scope === "rep" && v.id) {
      const r = st.reps.find((x) => x.id === v.id);
      if (r && r.team) team = r.team;
    }
    const p = { period: v.sp, limit: "10" };
    if (team) p.team = team;
    const rk = await api("ranking", p);
    let card = null;
    if (v.scope !== "org" && v.id) {
      // is the id ranked? its team's reps (or every rep, or every team) hold it when it is
      const q = { period: v.sp, scope: v.scope, limit: "1000" };
      if (v.scope === "rep" && team) q.team = team;
      const all = v.scope === "rep" && team && rk.total <= 10 ? rk : await api("ranking", q);
      if (all.rows.some((x) => x.id === v.id)) card = await api("scorecard", { scope: v.scope, id: v.id, period: v.sp });
    }
    if (gen !== st.generation) return;
    st.score = { card };
    st.ranking = rk;
    renderScore();
  }

  async function loadAlerts() {
    const [now, hist] = await Promise.all([api("alerts"), api("alerts/history", { limit: "20" })]);
    renderAlerts(now.firing || [], hist.history || []);
  }

  async function loadStatus() {
    const s = await api("status");
    setStatus(s.status);
  }

  // Re-fetches what is pending, at most one round at a time, coalescing bursts of events.
  function want(...what) {
    for (const w of what) st.pending.add(w);
    if (st.timer === null) st.timer = setTimeout(flush, 150);
  }
  async function flush() {
    st.timer = null;
    if (st.busy) { st.timer = setTimeout(flush, 150); return; }
    const todo = st.pending;
    st.pending = new Set();
    if (todo.size === 0) return;
    st.busy = true;
    const gen = st.generation;
    const jobs = [];
    const run = (name, p) => jobs.push(p.catch((e) => { showError(e, name); throw e; }));
    try {
      if (todo.has("lists")) run("teams/reps", loadLists(gen));
      if (todo.has("funnel")) run("funnel", loadFunnel(gen));
      if (todo.has("board")) {
        // The rep board of a rep's team needs the rep list first.
        const after = todo.has("lists") ? jobs[0] : Promise.resolve();
        run("leaderboard", after.then(() => loadBoard(gen)));
      }
      if (todo.has("alerts")) run("alerts", loadAlerts());
      if (todo.has("score")) run("scorecard", loadScore(gen));
      const res = await Promise.allSettled(jobs);
      if (res.every((r) => r.status === "fulfilled")) showError(null);
      if (gen === st.generation) {
        st.lastUpdate = new Date();
        renderLastUpdate();
      }
    } finally {
      st.busy = false;
    }
  }

  function refreshAll() { want("lists", "funnel", "board", "alerts", "score"); }

  // Scorecards are recomputed by funneld's scorer (every targets recompute_every), not per
  // batch: re-read them at most every SCORE_MS while changes arrive, and every minute anyway.
  const SCORE_MS = 10000;
  function scoreSoon() {
    if (st.scoreTimer !== null) return;
    const wait = st.lastScore + SCORE_MS - Date.now();
    const go = () => { st.scoreTimer = null; st.lastScore = Date.now(); want("score"); };
    if (wait <= 0) go(); else st.scoreTimer = setTimeout(go, wait);
  }

  // A bulk entry is a step of a catch-up (thousands may come a minute): re-read everything at
  // most every BULK_MS, not at the 150 ms pace of single changes, which would keep Redis busy
  // serving every open dashboard while it should be catching up.
  const BULK_MS = 2000;
  function onBulk() {
    if (st.bulkTimer !== null) return;
    const wait = st.lastBulk + BULK_MS - Date.now();
    const go = () => { st.bulkTimer = null; st.lastBulk = Date.now(); refreshAll(); };
    if (wait <= 0) go(); else st.bulkTimer = setTimeout(go, wait);
  }

  // ------------------------------------------------------------------------------------------
  // The event stream

  // "rep:day:2026-11-22:anna" -> {scope, window, id} (ids may hold ':').
  function parseKey(k) {
    const i = k.indexOf(":");
    if (i < 0) return null;
    const scope = k.slice(0, i);
    let rest = k.slice(i + 1), window;
    if (rest === "all" || rest.startsWith("all:")) {
      window = "all"; rest = rest.slice(4);
    } else {
      const a = rest.indexOf(":");
      const b = a < 0 ? -1 : rest.indexOf(":", a + 1);
      window = b < 0 ? rest : rest.slice(0, b);
      rest = b < 0 ? "" : rest.slice(b + 1);
    }
    return { scope, window, id: rest };
  }

  function onChange(data) {
    const v = st.view;
    const shown = st.resolved;
    let funnel = false, board = false, lists = false;
    for (const k of data.keys || []) {
      const p = parseKey(k);
      if (!p || p.window !== shown) continue;
      if (p.scope === v.scope && (v.scope === "org" || p.id === v.id)) funnel = true;
      if (p.scope === v.board) board = true;
      if (p.scope === "team" && !st.teams.some((x) => x.id === p.id)) lists = true;
      if (p.scope === "rep" && !st.reps.some((x) => x.id === p.id)) lists = true;
    }
    if (funnel) want("funnel");
    if (board) want("board");
    if (lists) want("lists");
    if ((data.keys || []).length) scoreSoon();
  }

  function connect() {
    if (!window.EventSource) return;
    const since = st.position ? "?since=" + encodeURIComponent(st.position) : "";
    const es = new EventSource("/api/v1/stream" + since, { withCredentials: true });
    st.source = es;
    const json = (ev) => { try { return JSON.parse(ev.data); } catch (e) { return {}; } };
    es.addEventListener("change", (ev) => onChange(json(ev)));
    es.addEventListener("bulk", () => { onBulk(); scoreSoon(); });
    es.addEventListener("resnapshot", () => refreshAll());
    es.addEventListener("alert", () => want("alerts"));
    es.addEventListener("status", (ev) => setStatus(json(ev).status));
    es.addEventListener("open", () => { if (!st.status) setStatus(null); });
    es.addEventListener("error", () => {
      // EventSource reconnects by itself, sending Last-Event-ID.
      if (es.readyState !== EventSource.CLOSED) setStatus("reconnecting");
    });
  }

  // ------------------------------------------------------------------------------------------
  // Rendering

  function setStatus(s) {
    st.status = s;
    const el = $("feed-status");
    const known = ["live", "idle", "behind", "stalled"];
    const name = known.includes(s) ? s : (s === "reconnecting" ? "reconnecting" : "unknown");
    el.className = "pill pill-" + name;
    el.dataset.status = s || "";
    el.textContent = known.includes(s) ? t(s) : (s === "reconnecting" ? t("lostConn") : t("connecting"));
    const stale = s === "stalled";
    $("stale").hidden = !stale;
    document.body.classList.toggle("is-stale", stale);
  }

  function renderLastUpdate() {
    const el = $("last-update");
    if (!st.lastUpdate) { el.textContent = "–"; return; }
    el.textContent = fmtTime(st.lastUpdate, false);
    el.dateTime = st.lastUpdate.toISOString();
    el.title = fmtTime(st.lastUpdate, true) + " (" + tz() + ")";
  }

  function scopeText() {
    const v = st.view;
    if (v.scope === "org") return t("org");
    if (v.scope === "team") return t("team") + " " + (v.id || "–");
    return t("rep") + " " + (v.id || "–");
  }

  function setText(id, s) { const el = $(id); if (el.textContent !== s) el.textContent = s; }

  function renderFunnel() {
    const f = st.funnel;
    const S = stages();
    setText("funnel-of", scopeText());
    setText("period", f ? windowText(f.window) + (f.window_start ? " · " + f.timezone : "") : "");
    const first = f && f.stages && f.stages[0] ? f.stages[0].entered : null;
    setText("kpi-deals", f ? fmtInt(first) : "–");
    setText("kpi-won", f ? fmtInt(f.won) : "–");
    setText("kpi-lost", f ? fmtInt(f.lost) : "–");
    setText("kpi-win-rate", f ? fmtPct(f.win_rate) : "–");
    setText("kpi-won-amount", f ? fmtMoney(f.won_amount) : "–");

    const rows = $("funnel-rows");
    rows.replaceChildren();
    const byStage = new Map(((f && f.stages) || []).map((x) => [x.stage, x]));
    S.forEach((s, i) => {
      const x = byStage.get(s) || {};
      const last = i === S.length - 1;
      const tr = document.createElement("tr");
      tr.dataset.stage = s;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = stageName(s);
      tr.appendChild(th);
      const cells = [
        ["entered", fmtInt(x.entered || 0)],
        ["conv", last ? "" : fmtPct(x.conv)],
        ["lost", last ? "" : fmtInt(x.lost_at || 0)],
        ["days", last ? "" : fmtDays(x.dwell_hours)],
      ];
      for (const [name, text] of cells) {
        const td = document.createElement("td");
        td.className = "num";
        td.dataset.testid = name + "-" + s;
        td.textContent = text;
        tr.appendChild(td);
      }
      rows.appendChild(tr);
    });
    renderPipeline();
    renderChart();
  }

  function cell(tr, text, cls, testid) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    if (testid) td.dataset.testid = testid;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  // The open deals per stage now (the answer's pipeline, read from the "all" hash), the
  // velocity with its formula and the numbers it multiplies, cycle days and average won deal.
  function renderPipeline() {
    const f = st.funnel;
    setText("pipeline-of", scopeText());
    const rows = $("pipeline-rows");
    rows.replaceChildren();
    const pl = f && f.pipeline;
    const byStage = new Map(((pl && pl.stages) || []).map((x) => [x.stage, x]));
    const S = stages();
    const add = (label, key, open, amount, total) => {
      const tr = document.createElement("tr");
      tr.dataset.stage = key;
      if (total) tr.className = "total";
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      tr.appendChild(th);
      cell(tr, fmtInt(open), "num", "open-" + key);
      cell(tr, fmtMoney(amount), "num", "open-amount-" + key);
      rows.appendChild(tr);
    };
    S.slice(0, -1).forEach((s) => {
      const x = byStage.get(s) || {};
      add(stageName(s), s, x.open || 0, x.open_amount || "0.00", false);
    });
    add(t("total"), "total", pl ? pl.open : 0, pl ? pl.open_amount : "0.00", true);
    const v = f && f.velocity;
    const inp = (v && v.inputs) || {};
    setText("velocity-value", v && v.value !== null ? fmt(t("perDay"), fmtMoney(v.value.toFixed(2))) : "–");
    const parts = [fmtInt(inp.open || 0), fmtPct(inp.win_rate),
      inp.avg_won_amount === null || inp.avg_won_amount === undefined ? "–" : fmtMoney(inp.avg_won_amount.toFixed(2)),
      inp.cycle_days === null || inp.cycle_days === undefined ? "–" : fmtNum(inp.cycle_days)];
    setText("velocity-formula", fmt(t("velocityFormula"), ...parts) + (v && v.value === null ? " " + t("velocityNone") : ""));
    setText("cycle-days", f && f.cycle_days !== null && f.cycle_days !== undefined ? fmtNum(f.cycle_days) : "–");
    setText("avg-won", f && f.avg_won_amount !== null && f.avg_won_amount !== undefined ? fmtMoney(f.avg_won_amount.toFixed(2)) : "–");
  }

  function lineValue(kpi, x) { return x === null || x === undefined ? "–" : kpiValue(kpi, x); }

  function renderScore() {
    const v = st.view;
    const sc = st.score || {};
    const card = sc.card;
    setText("score-of", scopeText());
    $("score-period").value = v.sp;
    const none = $("score-none");
    $("score-body").hidden = !card;
    if (!card) {
      none.hidden = false;
      const period = st.ranking ? windowText(st.ranking.period) : "";
      none.textContent = v.scope === "org" || !v.id ? t("pickScope") : fmt(t("noScorecard"), v.id, period);
    } else {
      none.hidden = true;
      const g = $("score-grade");
      g.textContent = card.grade || "–";
      g.className = "grade grade-" + (card.grade || "none");
      setText("score-value", card.score === null ? "–" : card.score.toFixed(2));
      let rank = card.rank_org === null ? "–" : fmt(t("rankOf"), card.rank_org, card.of_org);
      if (card.rank_team !== null) rank += " · " + fmt(t("rankTeam"), card.rank_team, card.of_team);
      setText("score-rank", rank);
      const names = TEXT[st.lang].stateName;
      const state = card.state === "final"
        ? fmt(names.final, card.final_ms ? fmtTime(new Date(card.final_ms), true) : "")
        : (names[card.state] || card.state || "");
      setText("score-state", windowText(card.period) + " · " + state);
      const rows = $("score-rows");
      rows.replaceChildren();
      for (const l of card.kpis) {
        const tr = document.createElement("tr");
        tr.dataset.kpi = l.kpi;
        if (l.status !== "scored") tr.className = "left-out";
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = kpiText(l.kpi);
        th.title = (l.fields || "") + (l.target_source ? " · " + l.target_source : "");
        tr.appendChild(th);
        cell(tr, lineValue(l.kpi, l.value), "num", "score-value-" + l.kpi);
        cell(tr, lineValue(l.kpi, l.target), "num", "score-target-" + l.kpi);
        cell(tr, lineValue(l.kpi, l.expected), "num", "score-expected-" + l.kpi);
        cell(tr, fmtPct(l.attainment), "num", "score-attainment-" + l.kpi);
        cell(tr, l.points === null ? "–" : l.points.toFixed(2), "num", "score-points-" + l.kpi);
        const w = l.weight === null ? "–" : fmtNum(l.weight) +
          (l.weight_used !== null && l.weight_used !== l.weight ? " → " + fmtNum(l.weight_used) : "");
        cell(tr, w, "num", "score-weight-" + l.kpi);
        cell(tr, l.weighted === null ? "–" : l.weighted.toFixed(2), "num", "score-weighted-" + l.kpi);
        cell(tr, (TEXT[st.lang].statusName[l.status] || l.status || "–"), "", "score-status-" + l.kpi);
        rows.appendChild(tr);
      }
      const adj = card.adjustments || [];
      $("adj").hidden = card.state !== "final" || (adj.length === 0 && !card.adjustment_count);
      setText("adj-summary", fmt(t("adjSummary"), card.adjustment_count,
        card.adjusted_score === null ? "–" : card.adjusted_score.toFixed(2), card.adjusted_grade || "–"));
      const list = $("adj-list");
      list.replaceChildren();
      for (const a of adj) {
        const li = document.createElement("li");
        if (typeof a !== "object") { li.textContent = String(a); list.appendChild(li); continue; }
        const evs = (a.events || []).map((e) => e.event_id).join(", ") || (a.events_unknown ? t("unknownEvents") : "–");
        const d = typeof a.delta === "number" ? (a.delta > 0 ? "+" : "") + fmtNum(a.delta) : "–";
        li.textContent = fmt(t("adjLine"), a.at_ms ? fmtTime(new Date(a.at_ms), true) : "–", kpiText(a.kpi || ""),
          lineValue(a.kpi || "", a.from), lineValue(a.kpi || "", a.to), d,
          typeof a.adjusted_score === "number" ? a.adjusted_score.toFixed(2) : "–", a.adjusted_grade || "–", evs);
        list.appendChild(li);
      }
    }
    const rk = st.ranking;
    const rrows = $("ranking-rows");
    rrows.replaceChildren();
    setText("ranking-of", rk ? windowText(rk.period) + (rk.team ? " · " + fmt(t("repsOf"), rk.team) : " · " + t("allReps")) : "");
    $("ranking-none").hidden = !!(rk && rk.rows.length);
    for (const x of (rk && rk.rows) || []) {
      const tr = document.createElement("tr");
      if (v.scope === "rep" && x.id === v.id) tr.className = "me";
      cell(tr, String(x.rank), "num", "rank-" + x.rank);
      cell(tr, x.id, "", "ranking-name");
      cell(tr, x.score.toFixed(2), "num", "ranking-score");
      cell(tr, x.grade || "–", "", "ranking-grade");
      cell(tr, x.team || "–", "", "ranking-team");
      rrows.appendChild(tr);
    }
  }

  // Draws "→ 62.0%" (conversion to the next stage) at the end of each stage's bar.
  const convLabels = {
    id: "convLabels",
    afterDatasetsDraw(chart) {
      const f = st.funnel;
      if (!f || !f.stages) return;
      const meta = chart.getDatasetMeta(0);
      const ctx = chart.ctx;
      ctx.save();
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillStyle = "#1f2937";
      ctx.textBaseline = "middle";
      meta.data.forEach((bar, i) => {
        const x = f.stages[i];
        if (!x || i === f.stages.length - 1 || x.conv === null || x.conv === undefined) return;
        ctx.fillText(fmt(t("convTo"), fmtPct(x.conv)), bar.x + 6, bar.y);
      });
      ctx.restore();
    },
  };

  function renderChart() {
    const f = st.funnel;
    const S = stages();
    const labels = S.map(stageName);
    const byStage = new Map(((f && f.stages) || []).map((x) => [x.stage, x]));
    const entered = S.map((s) => (byStage.get(s) || {}).entered || 0);
    const lost = S.map((s, i) => (i === S.length - 1 ? null : (byStage.get(s) || {}).lost_at || 0));
    if (!window.Chart) return;
    if (!st.chart) {
      st.chart = new window.Chart($("chart"), {
        type: "bar",
        data: { labels, datasets: [
          { label: t("chartEntered"), data: entered, backgroundColor: "#2563eb" },
          { label: t("chartLost"), data: lost, backgroundColor: "#dc6b2f" },
        ] },
        options: {
          indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: { duration: 300 },
          layout: { padding: { right: 70 } },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: { grid: { display: false } } },
          plugins: { legend: { position: "bottom" } },
        },
        plugins: [convLabels],
      });
      return;
    }
    const c = st.chart;
    c.data.labels = labels;
    c.data.datasets[0].data = entered;
    c.data.datasets[0].label = t("chartEntered");
    c.data.datasets[1].data = lost;
    c.data.datasets[1].label = t("chartLost");
    c.update();
  }

  function renderPickers() {
    const v = st.view;
    const team = $("team"), rep = $("rep");
    const fill = (sel, items, label, current) => {
      const ids = items.map((x) => x.id);
      if (current && !ids.includes(current)) items = [{ id: current }].concat(items);
      sel.replaceChildren();
      if (!current) {
        const o = document.createElement("option");
        o.value = ""; o.textContent = "–";
        sel.appendChild(o);
      }
      for (const x of items) {
        const o = document.createElement("option");
        o.value = x.id;
        o.textContent = label(x);
        sel.appendChild(o);
      }
      sel.value = current || "";
    };
    fill(team, st.teams.slice(), (x) => x.manager ? x.id + " · " + x.manager : x.id, v.scope === "team" ? v.id : "");
    fill(rep, st.reps.slice(), (x) => x.team ? x.id + " · " + x.team : x.id, v.scope === "rep" ? v.id : "");
    $("team-label").hidden = v.scope !== "team";
    $("rep-label").hidden = v.scope !== "rep";
  }

  function renderBoard(b) {
    const v = st.view;
    const rows = $("board-rows");
    rows.replaceChildren();
    const isRep = v.board === "rep";
    document.querySelectorAll("[data-col=team]").forEach((el) => { el.hidden = !isRep; });
    setText("board-of", "· " + (b.team ? fmt(t("repsOf"), b.team) : (isRep ? t("allReps") : t("allTeams"))));
    for (const r of b.rows || []) {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      if ((v.scope === v.board) && r.id === v.id) tr.className = "me";
      const add = (text, cls, testid) => {
        const td = document.createElement("td");
        if (cls) td.className = cls;
        if (testid) td.dataset.testid = testid;
        td.textContent = text;
        tr.appendChild(td);
        return td;
      };
      add(String(r.rank), "num");
      const name = add("", "", "board-name");
      const a = document.createElement("a");
      a.href = "#";
      a.textContent = r.id;
      a.addEventListener("click", (ev) => { ev.preventDefault(); setView({ scope: v.board, id: r.id }); });
      name.appendChild(a);
      if (isRep) add(r.team === null || r.team === undefined ? t("noTeam") : r.team, "", "board-team");
      add(fmtInt(r.deals), "num", "board-deals");
      add(fmtInt(r.won), "num", "board-won");
      add(fmtPct(r.win_rate), "num", "board-win-rate");
      add(fmtMoney(r.won_amount), "num", "board-won-amount");
      add(fmtPct(r.conv), "num", "board-conv");
      rows.appendChild(tr);
    }
    document.querySelectorAll("#board-head th[data-by]").forEach((th) => {
      const on = th.dataset.by === v.by;
      th.setAttribute("aria-sort", on ? (v.order === "asc" ? "ascending" : "descending") : "none");
      th.classList.toggle("sorted", on);
    });
    document.querySelectorAll("#board-kind button").forEach((btn) => {
      btn.setAttribute("aria-pressed", String(btn.dataset.kind === v.board));
    });
  }

  function who(a) {
    if (a.scope === "org") return t("org");
    if (a.scope === "team") return t("team") + " " + a.scope_id;
    return a.team ? a.scope_id + " (" + a.team + ")" : a.scope_id;
  }
  function bound(a) {
    const b = a.condition === "threshold" ? a.threshold : a.condition === "target" ? a.expected : a.baseline;
    return kpiValue(a.kpi, b);
  }

  function renderAlerts(firing, history) {
    const rows = $("alert-rows");
    rows.replaceChildren();
    $("alerts-none").hidden = firing.length !== 0;
    $("alerts-table").hidden = firing.length === 0;
    const cell = (tr, text, cls, testid) => {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      if (testid) td.dataset.testid = testid;
      td.textContent = text;
      tr.appendChild(td);
    };
    for (const a of firing) {
      const tr = document.createElement("tr");
      tr.className = "sev-" + a.severity;
      tr.dataset.alert = a.episode_id;
      cell(tr, who(a), "", "alert-who");
      cell(tr, a.manager || "–", "", "alert-manager");
      cell(tr, kpiText(a.kpi), "", "alert-kpi");
      cell(tr, kpiValue(a.kpi, a.value), "num", "alert-value");
      cell(tr, bound(a), "num", "alert-bound");
      cell(tr, fmtDate(a.started_at), "", "alert-since");
      rows.appendChild(tr);
    }
    $("history-table").hidden = history.length === 0;
    $("history-none").hidden = history.length !== 0;
    const hrows = $("history-rows");
    hrows.replaceChildren();
    for (const h of history) {
      const a = h.alert;
      const tr = document.createElement("tr");
      tr.className = "state-" + a.state;
      cell(tr, fmtDate(a.at), "");
      cell(tr, t(a.state), "state", "history-state");
      cell(tr, who(a), "");
      cell(tr, kpiText(a.kpi), "");
      cell(tr, kpiValue(a.kpi, a.value), "num");
      cell(tr, bound(a), "num");
      hrows.appendChild(tr);
    }
    st.alerts = { firing, history };
  }

  function applyLanguage() {
    document.documentElement.lang = st.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = st.lang === "zh" ? "English" : "中文";
    $("lang").setAttribute("lang", st.lang === "zh" ? "en" : "zh-CN");
    setStatus(st.status);
    renderLastUpdate();
    if (st.meta) {
      renderFunnel();
      renderPickers();
      if (st.alerts) renderAlerts(st.alerts.firing, st.alerts.history);
      if (st.score) renderScore();
      want("board");
    }
  }

  // ------------------------------------------------------------------------------------------
  // Controls

  function syncControls() {
    const v = st.view;
    $("scope").value = v.scope;
    const day = /^day:/.test(v.window);
    $("window").value = day ? "day" : v.window;
    $("day-label").hidden = !day;
    if (day) $("day").value = v.window.slice(4);
    $("team-label").hidden = v.scope !== "team";
    $("rep-label").hidden = v.scope !== "rep";
  }

  function setView(changes) {
    Object.assign(st.view, changes);
    st.generation++;
    writeHash();
    syncControls();
    renderPickers();
    refreshAll();
  }

  function bind() {
    $("scope").addEventListener("change", (ev) => {
      const scope = ev.target.value;
      let id = "";
      if (scope === "team") id = (st.teams[0] && st.teams[0].id) || "";
      if (scope === "rep") id = (st.reps[0] && st.reps[0].id) || "";
      setView({ scope, id, board: scope === "team" ? "rep" : st.view.board });
    });
    $("team").addEventListener("change", (ev) => setView({ id: ev.target.value }));
    $("rep").addEventListener("change", (ev) => setView({ id: ev.target.value }));
    $("window").addEventListener("change", (ev) => {
      let w = ev.target.value;
      if (w === "day") {
        const today = st.meta && st.meta.windows ? st.meta.windows.today : "";
        w = $("day").value ? "day:" + $("day").value : today;
      }
      setView({ window: w });
    });
    $("day").addEventListener("change", (ev) => {
      if (/^\d{4}-\d{2}-\d{2}$/.test(ev.target.value)) setView({ window: "day:" + ev.target.value });
    });
    $("controls").addEventListener("submit", (ev) => ev.preventDefault());
    $("score-period").addEventListener("change", (ev) => {
      st.view.sp = ev.target.value;
      writeHash();
      want("score");
    });
    document.querySelectorAll("#board-head th[data-by] button").forEach((btn) => {
      btn.addEventListener("click", () => {
        const by = btn.parentElement.dataset.by;
        const v = st.view;
        const order = v.by === by ? (v.order === "desc" ? "asc" : "desc") : "desc";
        Object.assign(v, { by, order });
        writeHash();
        want("board");
      });
    });
    document.querySelectorAll("#board-kind button").forEach((btn) => {
      btn.addEventListener("click", () => {
        st.view.board = btn.dataset.kind;
        writeHash();
        want("board");
      });
    });
    $("lang").addEventListener("click", () => {
      st.lang = st.lang === "zh" ? "en" : "zh";
      try { localStorage.setItem(LANG_KEY, st.lang); } catch (e) { /* private mode */ }
      applyLanguage();
    });
    window.addEventListener("hashchange", () => {
      readHash();
      st.generation++;
      syncControls();
      renderPickers();
      refreshAll();
    });
    // The current day/week... moves on at midnight of the business timezone.
    setInterval(() => { if (WINDOW_ALIASES.includes(st.view.window) && st.view.window !== "all") want("funnel", "board"); }, 60000);
    setInterval(() => want("score"), 60000);
  }

  async function start() {
    const q = new URLSearchParams(location.search).get("lang");
    let saved = null;
    try { saved = localStorage.getItem(LANG_KEY); } catch (e) { /* private mode */ }
    if (q === "zh" || q === "en") {
      st.lang = q;
      try { localStorage.setItem(LANG_KEY, q); } catch (e) { /* private mode */ }
    } else {
      st.lang = saved === "zh" ? "zh" : "en";
    }
    readHash();
    bind();
    applyLanguage();
    syncControls();
    boot();
  }

  async function boot() {
    try {
      st.meta = await api("meta");
    } catch (e) {
      showError(e, "meta");
      setTimeout(boot, 3000);
      return;
    }
    showError(null);
    $("tz").textContent = st.meta.timezone;
    $("version").textContent = st.meta.version || "";
    if (st.meta.windows && st.meta.windows.today) $("day").value = st.meta.windows.today.slice(4);
    writeHash();
    syncControls();
    loadStatus().catch(() => {});
    try {
      await loadLists(st.generation);
      await loadFunnel(st.generation);
    } catch (e) {
      showError(e, "funnel");
    }
    want("board", "alerts", "score");
    st.lastUpdate = new Date();
    renderLastUpdate();
    connect();
    document.body.dataset.ready = "1";
  }

  window.funneldDashboard = st;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
