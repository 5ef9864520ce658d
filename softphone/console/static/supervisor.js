// ctid supervisor wallboard. Plain JavaScript, no libraries, nothing from the network
// but ctid: POST /api/v1/login, GET /api/v1/wallboard (first paint), then the desktop
// WebSocket pushes queue.stats, wallboard.agents and campaign.stats.
"use strict";

(function () {
  const I18N = {
    en: {
      title: "ctid — supervisor wallboard", skip: "Skip to the wallboard", heading: "Wallboard", language: "Language",
      audio_on: "Connect audio", audio_live: "Audio connected", logout: "Log out", login_heading: "Supervisor login",
      username: "User name", password: "Password", login: "Log in", offline: "offline", live: "live",
      reconnecting: "reconnecting…", queues: "Queues", campaigns: "Campaigns", campaign: "Campaign", state: "State",
      progress: "Progress", dialled: "Dialled", connected: "Connected", abandoned: "Abandoned", pacing: "Pacing",
      actions: "Actions", agents: "Agents", hide_logged_out: "Hide logged-out agents", pause_reason: "Not-ready reason",
      r_break: "break", r_coaching: "coaching", r_meeting: "meeting", r_backoffice: "back office",
      agent: "Agent", time_in_state: "Time in state", call: "Call", answered: "Answered", occupancy: "Occupancy",
      waiting: "Waiting", longest_wait: "Longest wait", service_level: "Service level", asa: "ASA", aht: "AHT",
      abandon_rate: "Abandon rate", offered: "Offered", ringing: "ringing", callbacks: "callbacks", closed: "closed",
      within: "within", agents_by_state: "Agents", chart: "Last hours per interval", sl_line: "Service level",
      listen: "Listen", whisper: "Whisper", barge: "Barge", ready: "Ready", not_ready: "Not ready",
      log_out_agent: "Log out", start: "Start", pause: "Pause", stop: "Stop",
      s_ready: "ready", s_not_ready: "not ready", s_reserved: "ringing", s_talking: "talking", s_on_hold: "on hold",
      s_wrap_up: "wrap-up", s_logged_out: "logged out", s_unknown: "unknown",
      f_abandons_met: "abandons count as met", f_answered_only: "answered calls only",
      f_abandons_against: "abandons count against", f_short_abandons_neutral: "short abandons excluded",
      bad_login: "Wrong user name or password.", not_supervisor: "This page is for supervisors. Agents use the console at /.",
      rate_limited: "Too many attempts; wait a minute.", no_server: "ctid cannot be reached.",
      done: "Done: ", failed: "Failed: ", confirm_logout: "Log out agent %s?", need_audio: "Connect audio first to listen, whisper or barge.",
      mic_denied: "No microphone: you can listen, not whisper or barge.", sup_connected: "You are connected to %s's call (%s).",
      sup_ended: "Supervision ended.", replaced: "This wallboard was opened in another tab; this one stopped.",
      session_closed: "Your session ended; log in again.", stale: "No update for a while — the numbers may be old.",
      no_queues: "No queues are configured.", no_history: "No history yet.", none: "—",
    },
    pl: {
      title: "ctid — tablica supervisora", skip: "Przejdź do tablicy", heading: "Tablica", language: "Język",
      audio_on: "Połącz dźwięk", audio_live: "Dźwięk połączony", logout: "Wyloguj", login_heading: "Logowanie supervisora",
      username: "Nazwa użytkownika", password: "Hasło", login: "Zaloguj", offline: "rozłączono", live: "na żywo",
      reconnecting: "ponowne łączenie…", queues: "Kolejki", campaigns: "Kampanie", campaign: "Kampania", state: "Stan",
      progress: "Postęp", dialled: "Wybrane", connected: "Połączone", abandoned: "Porzucone", pacing: "Tempo",
      actions: "Akcje", agents: "Agenci", hide_logged_out: "Ukryj wylogowanych", pause_reason: "Powód niegotowości",
      r_break: "przerwa", r_coaching: "coaching", r_meeting: "spotkanie", r_backoffice: "back office",
      agent: "Agent", time_in_state: "Czas w stanie", call: "Rozmowa", answered: "Odebrane", occupancy: "Obłożenie",
      waiting: "Czekające", longest_wait: "Najdłuższe czekanie", service_level: "Poziom obsługi", asa: "ASA", aht: "AHT",
      abandon_rate: "Odsetek porzuceń", offered: "Przychodzące", ringing: "dzwoni", callbacks: "oddzwonienia", closed: "zamknięta",
      within: "w ciągu", agents_by_state: "Agenci", chart: "Ostatnie godziny w przedziałach", sl_line: "Poziom obsługi",
      listen: "Słuchaj", whisper: "Podpowiadaj", barge: "Włącz się", ready: "Gotowy", not_ready: "Niegotowy",
      log_out_agent: "Wyloguj", start: "Start", pause: "Wstrzymaj", stop: "Zatrzymaj",
      s_ready: "gotowy", s_not_ready: "niegotowy", s_reserved: "dzwoni", s_talking: "rozmawia", s_on_hold: "zawieszona",
      s_wrap_up: "po rozmowie", s_logged_out: "wylogowany", s_unknown: "nieznany",
      f_abandons_met: "porzucenia liczone jako spełnione", f_answered_only: "tylko odebrane",
      f_abandons_against: "porzucenia liczone przeciw", f_short_abandons_neutral: "bez krótkich porzuceń",
      bad_login: "Zła nazwa użytkownika lub hasło.", not_supervisor: "Ta strona jest dla supervisorów. Agenci używają konsoli pod /.",
      rate_limited: "Za dużo prób; odczekaj minutę.", no_server: "Brak połączenia z ctid.",
      done: "Wykonano: ", failed: "Błąd: ", confirm_logout: "Wylogować agenta %s?", need_audio: "Najpierw połącz dźwięk, aby słuchać, podpowiadać lub się włączyć.",
      mic_denied: "Brak mikrofonu: możesz słuchać, ale nie podpowiadać ani się włączać.", sup_connected: "Jesteś połączony z rozmową agenta %s (%s).",
      sup_ended: "Nadzór zakończony.", replaced: "Tablicę otwarto w innej karcie; ta została zatrzymana.",
      session_closed: "Sesja wygasła; zaloguj się ponownie.", stale: "Brak aktualizacji od dłuższego czasu — dane mogą być nieaktualne.",
      no_queues: "Brak skonfigurowanych kolejek.", no_history: "Brak historii.", none: "—",
    },
  };
  const STATES = ["ready", "reserved", "talking", "on_hold", "wrap_up", "not_ready", "logged_out"];
  const $ = (id) => document.getElementById(id);

  let lang = localStorage.getItem("ctid.lang") || ((navigator.language || "en").toLowerCase().startsWith("pl") ? "pl" : "en");
  let token = sessionStorage.getItem("ctid.token") || "";
  let me = null;
  let ws = null, wsRetry = 0, wsTimer = 0, stopped = false, lastEvent = 0;
  let nextID = 1;
  const pending = new Map();
  const queues = new Map(); // name -> fields (with history)
  let agents = [];
  let clockOffset = 0; // server time - local time, ms
  let intervalSeconds = 900, historySeconds = 8 * 3600;
  const campaigns = new Map();
  let pc = null, micOK = false;

  // A supervisor with teams sees their teams' queues and agents (admins see all;
  // ctid refuses actions on other teams' agents anyway).
  function myTeams() {
    return me && me.role === "supervisor" && Array.isArray(me.teams) && me.teams.length ? me.teams : null;
  }
  function showQueue(name) { const tm = myTeams(); return !tm || tm.includes(name); }
  function showAgent(a) { const tm = myTeams(); return !tm || (a.queues || []).some((q) => tm.includes(q)); }

  function t(key, ...args) {
    let s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    for (const a of args) s = s.replace("%s", a);
    return s;
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function applyLang() {
    document.documentElement.lang = lang;
    $("lang").value = lang;
    for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
    setConn($("conn").dataset.state);
    renderAll();
  }

  // ---- formatting ----
  function dur(sec) {
    if (sec === undefined || sec === null || !isFinite(sec) || sec < 0) return t("none");
    sec = Math.floor(sec);
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  function pct(v) { return v === undefined || v === null || !isFinite(v) ? t("none") : Math.round(v * 100) + "%"; }
  function stateName(s) { return t("s_" + (STATES.includes(s) ? s : "unknown")); }
  function formulaName(f) { return t("f_" + String(f || "").replace(/-/g, "_")); }
  function hhmm(iso) {
    const d = new Date(iso);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }
  function notice(msg, bad) {
    const n = $("notice");
    n.textContent = msg;
    n.classList.toggle("bad", !!bad);
  }

  // ---- REST ----
  async function api(method, path, body) {
    const opts = { method, headers: { "Accept": "application/json" } };
    if (token) opts.headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { status: r.status, data };
  }

  async function login(ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    let r;
    try {
      r = await api("POST", "/api/v1/login", { username: $("username").value.trim(), password: $("password").value });
    } catch (e) {
      $("login-error").textContent = t("no_server");
      return;
    }
    if (r.status === 429) { $("login-error").textContent = t("rate_limited"); return; }
    if (r.status !== 200 || !r.data || !r.data.token) { $("login-error").textContent = t("bad_login"); return; }
    const role = r.data.user && r.data.user.role;
    if (role !== "supervisor" && role !== "admin") { $("login-error").textContent = t("not_supervisor"); return; }
    token = r.data.token;
    sessionStorage.setItem("ctid.token", token);
    me = r.data.user;
    $("password").value = "";
    start();
  }

  async function resume() {
    if (!token) return showLogin();
    try {
      const r = await api("GET", "/api/v1/me");
      const role = r.data && (r.data.role || (r.data.user && r.data.user.role));
      if (r.status !== 200 || (role !== "supervisor" && role !== "admin")) return showLogin();
      me = r.data.user || r.data;
      start();
    } catch (e) {
      showLogin();
    }
  }

  function showLogin(msg) {
    stopped = true;
    if (ws) ws.close();
    token = "";
    sessionStorage.removeItem("ctid.token");
    $("board").hidden = true;
    $("logout").hidden = true;
    $("audio").hidden = true;
    $("login").hidden = false;
    $("who").textContent = "";
    $("login-error").textContent = msg || "";
    $("username").focus();
  }

  async function logout() {
    try { await api("POST", "/api/v1/logout"); } catch (e) { /* gone anyway */ }
    if (pc) { pc.close(); pc = null; }
    showLogin();
  }

  function start() {
    stopped = false;
    $("login").hidden = true;
    $("board").hidden = false;
    $("logout").hidden = false;
    $("audio").hidden = false;
    $("who").textContent = (me && (me.display_name || me.username)) || "";
    firstPaint().then(connect);
    $("main").focus();
  }

  async function firstPaint() {
    try {
      const r = await api("GET", "/api/v1/wallboard");
      if (r.status === 401) return showLogin(t("session_closed"));
      if (r.status !== 200 || !r.data) { notice(t("no_server"), true); return; }
      intervalSeconds = r.data.interval_seconds || intervalSeconds;
      historySeconds = r.data.history_seconds || historySeconds;
      clockOffset = Date.parse(r.data.at) - Date.now();
      queues.clear();
      for (const q of r.data.queues || []) queues.set(q.queue, q);
      agents = r.data.agents || [];
      lastEvent = Date.now();
      renderAll();
    } catch (e) {
      notice(t("no_server"), true);
    }
  }

  // ---- WebSocket ----
  function setConn(state) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = t(state === "live" ? "live" : state === "retry" ? "reconnecting" : "offline");
  }

  function connect() {
    if (stopped || !token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/api/v1/ws?access_token=${encodeURIComponent(token)}`);
    ws.onopen = () => { wsRetry = 0; setConn("live"); };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      if (msg.id !== undefined && msg.ok !== undefined) {
        const p = pending.get(msg.id);
        if (p) { pending.delete(msg.id); p(msg); }
        return;
      }
      onEvent(msg);
    };
    ws.onclose = () => {
      ws = null;
      for (const p of pending.values()) p({ ok: false, error: { code: "unavailable", message: t("offline") } });
      pending.clear();
      if (stopped) { setConn("off"); return; }
      setConn("retry");
      const wait = Math.min(15000, 1000 * Math.pow(2, wsRetry++)) * (0.75 + Math.random() / 2);
      clearTimeout(wsTimer);
      wsTimer = setTimeout(() => firstPaint().then(connect), wait);
    };
  }

  function send(cmd, args) {
    return new Promise((resolve) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        resolve({ ok: false, error: { code: "unavailable", message: t("offline") } });
        return;
      }
      const id = "s" + nextID++;
      pending.set(id, resolve);
      ws.send(JSON.stringify(Object.assign({ id, cmd }, args || {})));
    });
  }

  async function act(label, cmd, args) {
    const r = await send(cmd, args);
    if (r.ok) notice(t("done") + label);
    else notice(t("failed") + label + " — " + ((r.error && r.error.message) || "error"), true);
    return r;
  }

  function onEvent(msg) {
    lastEvent = Date.now();
    if (msg.at) clockOffset = Date.parse(msg.at) - Date.now();
    switch (msg.event) {
      case "snapshot":
        firstPaint();
        break;
      case "queue.stats": {
        const old = queues.get(msg.queue) || {};
        const hist = (old.history || []).slice();
        if (msg.interval) {
          if (hist.length && hist[hist.length - 1].start === msg.interval.start) hist[hist.length - 1] = msg.interval;
          else hist.push(msg.interval);
          const keep = Math.max(1, Math.round(historySeconds / intervalSeconds)) + 1;
          while (hist.length > keep) hist.shift();
        }
        queues.set(msg.queue, Object.assign({}, msg, { history: hist }));
        renderQueues();
        break;
      }
      case "wallboard.agents":
        agents = msg.agents || [];
        renderAgents();
        break;
      case "campaign.stats":
        campaigns.set(msg.campaign_id, msg);
        renderCampaigns();
        break;
      case "supervisor.connected":
        notice(t("sup_connected", msg.agent || "", msg.mode || ""));
        break;
      case "supervisor.ended":
        notice(t("sup_ended"));
        break;
      case "rtc.answer":
        if (pc) pc.setRemoteDescription({ type: "answer", sdp: msg.sdp }).catch((e) => notice(String(e), true));
        break;
      case "rtc.candidate":
        if (pc && msg.candidate) pc.addIceCandidate(msg.candidate).catch(() => {});
        break;
      case "rtc.state":
        $("audio").textContent = msg.state === "connected" ? t("audio_live") : t("audio_on");
        break;
      case "session.replaced":
        stopped = true;
        notice(t("replaced"), true);
        break;
      case "session.closed":
        if (msg.reason === "shutdown") notice(t("no_server"), true);
        else showLogin(t("session_closed"));
        break;
      case "error":
        notice(t("failed") + (msg.message || msg.code || ""), true);
        break;
    }
  }

  // ---- rendering ----
  function renderAll() {
    renderQueues();
    renderAgents();
    renderCampaigns();
  }

  function tile(label, value, sub, alert) {
    return el("div", { class: "tile" + (alert ? " alert" : "") },
      el("dt", { text: label }),
      el("dd", {}, value, sub ? el("small", { text: sub }) : null));
  }

  function renderQueues() {
    const box = $("queues");
    if (!box) return;
    box.replaceChildren();
    if (queues.size === 0) { box.append(el("p", { text: t("no_queues") })); return; }
    for (const q of [...queues.values()].filter((x) => showQueue(x.queue)).sort((a, b) => a.queue.localeCompare(b.queue))) {
      const hid = "q-" + q.queue;
      const by = q.agents_by_state || {};
      const states = el("p", { class: "states" }, t("agents_by_state") + ": ");
      for (const s of STATES) {
        if (s === "logged_out" || !by[s]) continue;
        states.append(el("b", { text: String(by[s]) }), " " + stateName(s) + "  ");
      }
      const slSub = `${formulaName(q.sl_formula)} (${q.sl_formula}), ${t("within")} ${Math.round(q.sl_threshold_seconds || 20)} s`;
      box.append(el("article", { class: "queue", "aria-labelledby": hid },
        el("h3", { id: hid }, q.queue, q.open === false ? el("span", { class: "closed", text: t("closed") }) : null),
        el("dl", { class: "tiles" },
          tile(t("waiting"), String(q.waiting || 0), `${q.ringing || 0} ${t("ringing")}, ${q.callbacks || 0} ${t("callbacks")}`, q.waiting > 0),
          tile(t("longest_wait"), dur(q.longest_wait_seconds), null, q.longest_wait_seconds > (q.sl_threshold_seconds || 20)),
          tile(t("service_level"), pct(q.service_level), slSub),
          tile(t("abandon_rate"), pct(q.abandon_rate)),
          tile(t("asa"), dur(q.asa_seconds)),
          tile(t("aht"), dur(q.aht_seconds)),
          tile(t("occupancy"), pct(q.occupancy)),
          tile(t("offered"), String(q.offered || 0), `${q.answered || 0} ${t("answered").toLowerCase()}, ${q.abandoned || 0} ${t("abandoned").toLowerCase()}`)),
        states,
        chart(q)));
    }
  }

  // chart draws offered / answered / abandoned bars per interval and the SL line.
  function chart(q) {
    const hist = q.history || [];
    const W = 480, H = 150, L = 28, R = 34, T = 8, B = 22;
    const cw = W - L - R, ch = H - T - B;
    const max = Math.max(1, ...hist.map((h) => h.offered || 0));
    const title = `${q.queue}: ${t("chart")}`;
    const lines = hist.map((h) => `${hhmm(h.start)} ${t("offered")} ${h.offered}, ${t("answered")} ${h.answered}, ${t("abandoned")} ${h.abandoned}, ${t("service_level")} ${pct(h.service_level)}`);
    const s = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title + ". " + (lines.slice(-4).join("; ") || t("no_history")) });
    s.append(svg("title", {}, title), svg("desc", {}, lines.join("\n") || t("no_history")));
    s.append(svg("line", { x1: L, y1: T + ch, x2: L + cw, y2: T + ch, stroke: "#767676" }));
    s.append(svg("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, String(max)));
    s.append(svg("text", { x: L - 4, y: T + ch, "text-anchor": "end" }, "0"));
    s.append(svg("text", { x: L + cw + 4, y: T + 8 }, "100%"));
    s.append(svg("text", { x: L + cw + 4, y: T + ch }, "0%"));
    const n = Math.max(hist.length, 8);
    const slot = cw / n, bw = Math.max(1, (slot - 2) / 3);
    const colors = ["var(--offered)", "var(--answered)", "var(--abandoned)"];
    let path = "";
    hist.forEach((h, i) => {
      const x0 = L + i * slot + 1;
      [h.offered || 0, h.answered || 0, h.abandoned || 0].forEach((v, k) => {
        const bh = (v / max) * ch;
        s.append(svg("rect", { x: x0 + k * bw, y: T + ch - bh, width: bw, height: bh, fill: colors[k] }));
      });
      if (h.service_level !== null && h.service_level !== undefined) {
        const y = T + ch - h.service_level * ch, x = x0 + slot / 2;
        path += (path ? " L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        s.append(svg("circle", { cx: x, cy: y, r: 2.5, fill: "var(--sl)" }));
      }
      if (i % 4 === 0) s.append(svg("text", { x: x0, y: H - 6 }, hhmm(h.start)));
    });
    if (path) s.append(svg("path", { d: path, fill: "none", stroke: "var(--sl)", "stroke-width": 2 }));
    const legend = el("ul", { class: "legend", "aria-hidden": "true" });
    [["offered", colors[0]], ["answered", colors[1]], ["abandoned", colors[2]], ["sl_line", "var(--sl)"]].forEach(([k, c]) => {
      const sw = el("span");
      sw.style.background = c;
      legend.append(el("li", {}, sw, t(k)));
    });
    return el("figure", { style: null }, s, legend);
  }

  function timeInState(a) {
    if (!a.since) return a.time_in_state_seconds;
    return (Date.now() + clockOffset - Date.parse(a.since)) / 1000;
  }

  function renderAgents() {
    const body = $("agents");
    if (!body) return;
    const hide = $("hide-out").checked;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    body.replaceChildren();
    for (const a of agents) {
      if ((hide && a.state === "logged_out") || !showAgent(a)) continue;
      const onCall = a.state === "talking" || a.state === "on_hold";
      const loggedIn = a.state !== "logged_out";
      const btn = (key, label, cmd, args, enabled, confirmText) => el("button", {
        type: "button", "data-key": a.agent + "/" + key, disabled: !enabled,
        "aria-label": `${label}: ${a.agent}`,
        onclick: async () => {
          if (confirmText && !window.confirm(confirmText)) return;
          if (cmd.startsWith("supervisor.") && cmd !== "supervisor.set_state" && !pc) notice(t("need_audio"), true);
          await act(`${label} ${a.agent}`, cmd, typeof args === "function" ? args() : args);
        },
        text: label,
      });
      const reason = a.reason ? ` (${a.reason})` : "";
      const pend = a.pending_pause ? " → " + stateName("not_ready") : a.pending_logout ? " → " + stateName("logged_out") : "";
      body.append(el("tr", {},
        el("th", { scope: "row", title: a.agent, text: a.name && a.name !== a.agent ? `${a.name} (${a.agent})` : a.agent }),
        el("td", {}, el("span", { class: "state " + a.state, text: stateName(a.state) }), reason + pend),
        el("td", { class: "num", "data-since": a.agent, text: loggedIn ? dur(timeInState(a)) : t("none") }),
        el("td", { text: a.call_id ? `${a.call_queue || ""} ${a.call_id}` : t("none") }),
        el("td", { class: "num", text: String(a.answered || 0) }),
        el("td", { class: "num", text: loggedIn ? pct(a.occupancy) : t("none") }),
        el("td", {}, el("div", { class: "actions" },
          btn("listen", t("listen"), "supervisor.listen", { agent: a.agent }, onCall),
          btn("whisper", t("whisper"), "supervisor.whisper", { agent: a.agent }, onCall),
          btn("barge", t("barge"), "supervisor.barge", { agent: a.agent }, onCall),
          btn("ready", t("ready"), "supervisor.set_state", { agent: a.agent, state: "ready" }, a.state === "not_ready" || a.state === "wrap_up" || !!a.pending_pause),
          btn("not_ready", t("not_ready"), "supervisor.set_state", () => ({ agent: a.agent, state: "not_ready", reason: $("reason").value }), loggedIn && a.state !== "not_ready" && !a.pending_pause),
          btn("logout", t("log_out_agent"), "supervisor.set_state", { agent: a.agent, state: "logged_out" }, loggedIn, t("confirm_logout", a.agent))))));
    }
    if (focused) {
      const again = body.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again && !again.disabled) again.focus();
    }
  }

  function tickTimes() {
    for (const a of agents) {
      const cell = document.querySelector(`[data-since="${CSS.escape(a.agent)}"]`);
      if (cell && a.state !== "logged_out") cell.textContent = dur(timeInState(a));
    }
    if (!stopped && token && lastEvent && Date.now() - lastEvent > 30000) notice(t("stale"), true);
  }

  function renderCampaigns() {
    const sec = $("campaigns-section");
    if (!sec) return;
    sec.hidden = campaigns.size === 0;
    const body = $("campaigns");
    body.replaceChildren();
    for (const c of campaigns.values()) {
      const total = (c.dialled || 0) + (c.remaining || 0);
      const prog = total ? Math.round(((c.dialled || 0) / total) * 100) : 0;
      const cb = (key, cmd, enabled) => el("button", {
        type: "button", disabled: !enabled, "aria-label": `${t(key)}: ${c.campaign_id}`, text: t(key),
        onclick: () => act(`${t(key)} ${c.campaign_id}`, cmd, { campaign_id: c.campaign_id }),
      });
      body.append(el("tr", {},
        el("th", { scope: "row", text: c.campaign_id }),
        el("td", { text: c.state || t("none") }),
        el("td", {}, el("progress", { max: 100, value: prog, "aria-label": `${c.campaign_id} ${prog}%` }), ` ${prog}%`),
        el("td", { class: "num", text: String(c.dialled || 0) }),
        el("td", { class: "num", text: String(c.connected || 0) }),
        el("td", { class: "num", text: String(c.abandoned || 0) }),
        el("td", { text: c.pacing === undefined ? t("none") : String(c.pacing) }),
        el("td", {}, el("div", { class: "actions" },
          cb("start", "campaign.start", c.state !== "running"),
          cb("pause", "campaign.pause", c.state === "running"),
          cb("stop", "campaign.stop", c.state !== "stopped")))));
    }
  }

  // ---- supervisor audio: one peer connection, like the agent console ----
  async function connectAudio() {
    if (pc) return;
    pc = new RTCPeerConnection({});
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      micOK = true;
    } catch (e) {
      micOK = false;
      notice(t("mic_denied"), true);
    }
    if (stream) for (const tr of stream.getAudioTracks()) pc.addTrack(tr, stream);
    else pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = (e) => { $("sup-audio").srcObject = e.streams[0] || new MediaStream([e.track]); };
    pc.onicecandidate = (e) => { send("rtc.candidate", { candidate: e.candidate ? e.candidate.toJSON() : null }); };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await send("rtc.offer", { sdp: pc.localDescription.sdp });
    if (!r.ok) {
      notice(t("failed") + ((r.error && r.error.message) || "rtc.offer"), true);
      pc.close();
      pc = null;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("lang").addEventListener("change", (e) => { lang = e.target.value; localStorage.setItem("ctid.lang", lang); applyLang(); });
    $("login").addEventListener("submit", login);
    $("logout").addEventListener("click", logout);
    $("audio").addEventListener("click", () => connectAudio().catch((e) => notice(String(e), true)));
    $("hide-out").addEventListener("change", renderAgents);
    setInterval(tickTimes, 1000);
    applyLang();
    resume();
  });
})();
