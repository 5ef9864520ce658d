// ctid agent console. Plain JavaScript, no build step, nothing loaded from the
// internet. Protocol: docs/API.md (REST login, one WebSocket for commands, events
// and the softphone's signalling).
"use strict";
(function () {
  var i18n = window.ctidI18n;
  var t = i18n.t;

  function $(id) { return document.getElementById(id); }

  // ---- state (one object; render() draws it) ----
  var S = {
    token: "", user: null,
    ws: null, wsOpen: false, nextId: 1, pending: {},
    lastSeq: 0, epoch: "", resuming: false,
    backoff: 0, reconnectTimer: 0, reconnectAt: 0, stopped: true,
    agentState: "logged_out", reason: "", stateSince: Date.now(),
    call: null,   // {id, pop, phase: offered|connecting|talking|held|consulting, since, muted, consult}
    wrap: null,   // {callId, deadline, pop}
    lastPop: {},  // call_id -> pop, for the wrap-up form
    consulted: {}, // call_id -> true when another agent consulted me about their caller
    pc: null, sender: null, micStream: null, micTrack: null, micId: "",
    remoteReady: false, pendingRemote: [], offerAcked: false, pendingLocal: [], makingOffer: false,
    audioEpoch: "", // the stream epoch (ctid process) the peer connection was negotiated with
    rtcState: "new", packetsReceived: 0,
    iceServers: [], iceStuck: false, iceTimer: 0, audioEnabled: true,
    preview: null, // {id, ev, autoAt}: a preview campaign's next contact (campaign.preview)
    dialing: false,
    metrics: { acceptAt: 0, acceptToAudioMs: null },
    audioCtx: null, meterTimer: 0, statsTimer: 0, tickTimer: 0
  };

  // ---- errors and notices ----
  function notify(text, opts) {
    opts = opts || {};
    var box = $("errors");
    var item = document.createElement("div");
    item.className = "notice " + (opts.kind || "error");
    var span = document.createElement("span");
    span.textContent = text;
    item.appendChild(span);
    if (opts.action) {
      var a = document.createElement("button");
      a.type = "button";
      a.textContent = opts.action.label;
      a.addEventListener("click", function () { item.remove(); opts.action.run(); });
      item.appendChild(a);
    }
    var x = document.createElement("button");
    x.type = "button";
    x.className = "dismiss";
    x.textContent = "×";
    x.setAttribute("aria-label", t("dismiss"));
    x.addEventListener("click", function () { item.remove(); });
    item.appendChild(x);
    if (opts.id) {
      var old = box.querySelector('[data-id="' + opts.id + '"]');
      if (old) old.remove();
      item.setAttribute("data-id", opts.id);
    }
    box.appendChild(item);
    if (!opts.sticky) setTimeout(function () { item.remove(); }, opts.kind === "info" ? 5000 : 10000);
  }
  function clearNotice(id) {
    var old = $("errors").querySelector('[data-id="' + id + '"]');
    if (old) old.remove();
  }

  // ---- REST ----
  function api(method, path, body) {
    var h = { "Accept": "application/json" };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (S.token) h["Authorization"] = "Bearer " + S.token;
    return fetch(path, { method: method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" })
      .then(function (r) {
        return r.text().then(function (txt) {
          var j = null;
          try { j = txt ? JSON.parse(txt) : null; } catch (e) { j = null; }
          return { status: r.status, body: j };
        });
      });
  }

  // ---- WebSocket ----
  function wsURL() {
    var u = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/ws?access_token=" + encodeURIComponent(S.token);
    if (S.epoch) u += "&after=" + S.lastSeq + "&epoch=" + encodeURIComponent(S.epoch); // resume where we left off
    return u;
  }

  function connect() {
    clearTimeout(S.reconnectTimer);
    S.stopped = false;
    var ws;
    try { ws = new WebSocket(wsURL()); } catch (e) { scheduleReconnect(); return; }
    S.ws = ws;
    setConn("connecting");
    ws.onopen = function () {
      if (S.ws !== ws) return;
      S.wsOpen = true;
      S.backoff = 0;
      clearNotice("offline");
      setConn("online");
      fetchRTCConfig().then(ensureAudio);
      render();
    };
    ws.onmessage = function (ev) {
      if (S.ws !== ws) return;
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m === null || typeof m !== "object") return;
      if (Object.prototype.hasOwnProperty.call(m, "ok") && Object.prototype.hasOwnProperty.call(m, "id")) { onReply(m); return; }
      if (typeof m.event === "string") onFrame(m);
    };
    var opened = false;
    ws.addEventListener("open", function () { opened = true; });
    ws.onclose = function (ev) {
      if (S.ws !== ws) return;
      S.ws = null;
      S.wsOpen = false;
      failPending();
      if (S.stopped) return;
      if (ev.code === 4001) { replaced(); return; }
      if (ev.code === 4002) { expired(); return; }
      scheduleReconnect();
      render();
      if (!opened) {
        // Refused before opening: a token ctid no longer knows (it restarted, or
        // the session was revoked) means signing in again, not retrying forever.
        api("GET", "/api/v1/me").then(function (r) { if (r.status === 401 && S.token) expired(); }, function () { /* ctid unreachable: keep retrying */ });
      }
    };
  }

  // scheduleReconnect retries with exponential backoff (0.5 s doubling to 8 s,
  // with jitter so that a whole floor does not reconnect in step).
  function scheduleReconnect() {
    if (S.stopped) return;
    clearTimeout(S.reconnectTimer);
    S.backoff = Math.min(S.backoff ? S.backoff * 2 : 500, 8000);
    var wait = Math.round(S.backoff * (0.75 + Math.random() * 0.5));
    S.reconnectAt = Date.now() + wait;
    setConn("offline");
    if (!$("errors").querySelector('[data-id="offline"]')) {
      notify(t("err.offline"), { sticky: true, id: "offline", action: { label: t("conn.retry"), run: function () { S.backoff = 0; connect(); } } });
    }
    S.reconnectTimer = setTimeout(connect, wait);
  }

  function replaced() {
    S.stopped = true;
    clearNotice("offline");
    setConn("offline");
    notify(t("err.replaced"), { sticky: true, id: "replaced", action: { label: t("err.useHere"), run: function () { S.epoch = ""; connect(); } } });
    render();
  }

  function expired() {
    notify(t("err.expired"), { sticky: true, id: "expired" });
    endSession();
  }

  function failPending() {
    Object.keys(S.pending).forEach(function (id) {
      var p = S.pending[id];
      clearTimeout(p.timer);
      delete S.pending[id];
      p.reject(new Error(t("err.offline")));
    });
  }

  // send issues one command and resolves with its reply (rejects on an error reply).
  function send(cmd, args) {
    return new Promise(function (resolve, reject) {
      if (!S.wsOpen || !S.ws) { reject(new Error(t("err.offline"))); return; }
      var id = "c" + (S.nextId++);
      var frame = { id: id, cmd: cmd };
      if (args) Object.keys(args).forEach(function (k) { frame[k] = args[k]; });
      var p = { resolve: resolve, reject: reject, cmd: cmd };
      p.timer = setTimeout(function () { delete S.pending[id]; reject(new Error(t("err.timeout"))); }, 15000);
      S.pending[id] = p;
      S.ws.send(JSON.stringify(frame));
    });
  }

  // act sends a command from a button and reports a failure to the agent.
  function act(cmd, args) {
    return send(cmd, args).then(function (r) { return r; }, function (e) {
      notify(t("err.command", { cmd: cmd, msg: e.message }));
      return null;
    });
  }

  function onReply(m) {
    var p = S.pending[m.id];
    if (!p) return;
    delete S.pending[m.id];
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m);
    else {
      var err = new Error((m.error && m.error.message) || "error");
      err.code = m.error && m.error.code;
      p.reject(err);
    }
  }

  function onFrame(m) {
    if (m.event === "session.replaced") return; // the close (4001) follows
    if (m.event === "session.closed") {
      if (m.reason === "logged_out" || m.reason === "token_expired") S.stopped = false;
      return; // the close (4002 / 1001) follows
    }
    if (typeof m.seq !== "number") { onEvent(m); return; }
    if (m.event === "snapshot") {
      S.resuming = false;
      S.lastSeq = m.seq;
      onEvent(m);
      return;
    }
    if (S.resuming) return; // replayed events follow the resume reply
    if (m.seq <= S.lastSeq) return; // already applied (replay overlap)
    if (m.seq > S.lastSeq + 1 && S.lastSeq > 0) { resumeFrom(S.lastSeq); return; }
    S.lastSeq = m.seq;
    onEvent(m);
  }

  // resumeFrom asks ctid for every event after seq (a gap in the stream).
  function resumeFrom(seq) {
    S.resuming = true;
    send("resume", { after: seq, epoch: S.epoch }).then(function () { S.resuming = false; }, function () {
      S.resuming = false;
      if (S.ws) S.ws.close(4000, "resume failed"); // reconnect (with after=) instead
    });
  }

  // fetchRTCConfig asks ctid for the STUN/TURN servers the peer connection uses
  // (agents outside the LAN); without an answer the LAN-only default stays.
  function fetchRTCConfig() {
    return send("rtc.config").then(function (r) {
      if (r) S.audioEnabled = r.enabled !== false;
      if (r && Array.isArray(r.ice_servers)) {
        S.iceServers = r.ice_servers.filter(function (x) { return x && (typeof x.urls === "string" || Array.isArray(x.urls)); });
      }
    }, function () { /* an older ctid: no servers */ });
  }

  // ---- events ----
  function onEvent(e) {
    switch (e.event) {
      case "snapshot": {
        if (e.epoch) S.epoch = e.epoch;
        var a = e.agent;
        if (a) {
          setAgentState(a.state, a.reason, a.since);
          // The snapshot names the engine's call (a consultation's has a suffix).
          var id = (a.call_id || "").replace(/-consult-\d+$/, "");
          var phase = { reserved: "offered", offered: "offered", talking: "talking", busy: "talking", on_hold: "held" }[a.state];
          if (S.preview && S.preview.id !== id) S.preview = null;
          if (S.preview && S.preview.id === id) phase = "";
          if (S.call && (S.call.id !== id || !phase)) S.call = null;
          if (id && phase && !S.call) {
            S.call = { id: id, pop: S.lastPop[id] || null, phase: phase, since: Date.now(), muted: false, consult: null, consulted: !!S.consulted[id] };
          }
        }
        break;
      }
      case "agent.state":
        setAgentState(e.state, e.reason);
        break;
      case "campaign.preview":
        S.preview = { id: e.call_id, ev: e, autoAt: e.auto_dial_at ? Date.parse(e.auto_dial_at) || 0 : 0 };
        $("preview-error").textContent = "";
        document.title = "☎ " + (e.contact_name || e.number || "") + " — ctid";
        setTimeout(function () { if (S.preview && !$("btn-preview-dial").disabled) $("btn-preview-dial").focus(); }, 0);
        break;
      case "call.offered":
        if (S.preview && S.preview.id === e.call_id) S.preview = null; // the previewed contact is being dialled
        S.lastPop[e.call_id] = e;
        savePops();
        // An outbound call (manual dial, campaign line) rings the contact: nothing to
        // accept, the agent follows it and may hang up.
        var outbound = e.direction === "outbound";
        S.call = { id: e.call_id, pop: e, phase: outbound ? "connecting" : "offered", since: Date.now(), muted: false, consult: null,
          consulted: (S.consulted[e.call_id] = e.direction === "consult"), expiresAt: e.offer_expires_at ? Date.parse(e.offer_expires_at) : 0 };
        if (outbound) measureFirstAudio();
        document.title = "☎ " + callerLabel(e) + " — ctid";
        var f = document.activeElement;
        if (!outbound && (!f || f === document.body || f.tagName === "BUTTON")) setTimeout(function () { $("btn-accept").focus(); }, 0);
        break;
      case "call.updated":
        if (S.lastPop[e.call_id]) {
          Object.keys(e).forEach(function (k) { if (k !== "seq" && k !== "event") S.lastPop[e.call_id][k] = e[k]; });
          savePops();
        }
        break;
      case "call.withdrawn":
        if (S.preview && S.preview.id === e.call_id) { S.preview = null; document.title = "ctid — agent console"; }
        if (S.call && S.call.id === e.call_id && S.call.phase === "offered") {
          S.call = null;
          notify(t("call.withdrawn", { reason: e.reason || "" }), { kind: "info" });
        }
        break;
      case "call.connected":
        if (!S.call || S.call.id !== e.call_id) {
          S.call = { id: e.call_id, pop: S.lastPop[e.call_id] || null, muted: false, consult: null };
        }
        if (e.consult) S.call.consulted = true; // another agent consults me about their caller
        if (e.transferred_from) S.call.consulted = false; // now the caller is mine
        S.consulted[e.call_id] = S.call.consulted;
        S.call.phase = "talking";
        S.call.since = Date.now();
        S.call.muted = false;
        setMicSending(true);
        break;
      case "call.held":
        if (S.call && S.call.id === e.call_id) { S.call.phase = S.call.consult ? "consulting" : "held"; }
        if (!S.call || !S.call.consult) setMicSending(false);
        break;
      case "call.unheld":
        if (S.call && S.call.id === e.call_id) { S.call.phase = "talking"; S.call.consult = null; }
        setMicSending(true);
        break;
      case "call.consult":
        if (S.call && S.call.id === e.call_id) {
          if (e.state === "connected" || e.state === "ringing") {
            S.call.consult = { target: e.target, state: e.state };
            S.call.phase = "consulting";
            setMicSending(true);
          } else {
            // cancelled: back with the caller; ended (the other agent left): the
            // caller is still on hold (call.held follows).
            S.call.consult = null;
            S.call.phase = e.state === "cancelled" ? "talking" : "held";
            setMicSending(e.state === "cancelled");
          }
        }
        break;
      case "call.conference":
        if (S.call && S.call.id === e.call_id) {
          S.call.consult = { target: (e.parties || []).join(", "), state: "conference" };
          S.call.phase = "talking";
          setMicSending(true);
        }
        break;
      case "call.transferred": {
        var to = e.to || {};
        notify(t("transfer.done", { target: to.agent || to.queue || to.number || "" }), { kind: "info" });
        // My part of the call is over (a transfer to a queue sends no call.ended);
        // the wrap-up, if any, comes with wrapup.started.
        if (S.call && S.call.id === e.call_id) {
          S.call = null;
          document.title = "ctid — agent console";
          setMicSending(false);
        }
        break;
      }
      case "call.ended":
        if (S.call && S.call.id === e.call_id) {
          var pop = S.call.pop, consulted = S.call.consulted;
          // an outbound line that never answered (busy, no answer): nothing to wrap up
          var unanswered = S.call.phase === "connecting" && pop && pop.direction === "outbound";
          S.call = null;
          document.title = "ctid — agent console";
          notify(t("call.ended", { reason: e.reason || "" }), { kind: "info" });
          // The wrap-up form also opens without wrapup.started (a queue with no
          // wrap-up time), but not for a caller who left before, went elsewhere, or
          // was another agent's (a consultation).
          if (!S.wrap && !consulted && !unanswered && e.reason !== "abandoned" && e.reason !== "transferred") openWrap(e.call_id, pop, 0);
        }
        setMicSending(false);
        break;
      case "wrapup.started":
        if (S.consulted[e.call_id]) break; // another agent's caller: nothing to record here
        openWrap(e.call_id, S.lastPop[e.call_id] || (S.wrap && S.wrap.pop), Date.parse(e.deadline || e.until || "") || 0);
        break;
      case "rtc.answer":
        onAnswer(e.sdp);
        break;
      case "rtc.candidate":
        onRemoteCandidate(e.candidate);
        break;
      case "rtc.state":
        break; // the browser's own connection state is what the agent sees
      case "error":
        notify(t("err.server", { msg: e.message || e.code || "" }));
        break;
    }
    render();
  }

  // savePops keeps the last screen-pops in this tab's sessionStorage, so that a
  // reload in the middle of a call still shows who is on the line.
  function savePops() {
    var ids = Object.keys(S.lastPop);
    while (ids.length > 5) delete S.lastPop[ids.shift()];
    try { sessionStorage.setItem("ctid.pops", JSON.stringify(S.lastPop)); } catch (e) { /* private mode or full */ }
  }

  // loadPops restores the screen-pops and an unfinished wrap-up after a reload.
  function loadPops() {
    var w = null;
    try {
      var p = JSON.parse(sessionStorage.getItem("ctid.pops") || "{}");
      if (p && typeof p === "object") S.lastPop = p;
      w = JSON.parse(sessionStorage.getItem("ctid.wrap") || "null");
    } catch (e) { S.lastPop = {}; }
    if (w && typeof w.callId === "string" && w.callId) openWrap(w.callId, S.lastPop[w.callId] || null, w.deadline || 0);
  }

  function setAgentState(state, reason, since) {
    if (state !== S.agentState || reason !== S.reason) S.stateSince = since ? Date.parse(since) || Date.now() : Date.now();
    S.agentState = state || "logged_out";
    S.reason = reason || "";
  }

  function openWrap(callId, pop, deadline) {
    var same = S.wrap && S.wrap.callId === callId;
    S.wrap = { callId: callId, pop: pop || null, deadline: deadline || (same ? S.wrap.deadline : 0) };
    // Survives a reload: the outcome of the call is still to be recorded.
    try { sessionStorage.setItem("ctid.wrap", JSON.stringify({ callId: callId, deadline: S.wrap.deadline })); } catch (e) { /* private mode */ }
    if (!same) {
      fillDispositions(pop);
      var draft = {};
      try { draft = JSON.parse(sessionStorage.getItem("ctid.wrap." + callId) || "{}") || {}; } catch (e) { draft = {}; }
      $("wu-notes").value = draft.notes || "";
      $("wu-callback").value = draft.callback || "";
      if (draft.disposition) $("wu-disposition").value = draft.disposition;
      syncCallback();
      setTimeout(function () { if (!S.call || S.call.phase !== "offered") $("wu-disposition").focus(); }, 0);
    }
  }

  // ---- softphone (WebRTC) ----
  // ensureAudio builds the peer connection unless a working one exists. After ctid
  // restarted (a new stream epoch in the snapshot: the old process and its end of
  // the peer connection are gone, and a new ctid cannot take over its DTLS session)
  // it builds a new one at once, instead of waiting for ICE to notice the loss.
  function ensureAudio() {
    var restarted = S.audioEpoch && S.epoch && S.audioEpoch !== S.epoch;
    if (S.pc && !restarted && S.pc.connectionState !== "failed" && S.pc.connectionState !== "closed") return;
    startAudio();
  }

  function getMic(deviceId) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      notify(t("err.audio", { msg: "getUserMedia unavailable (use https or localhost)" }), { sticky: true, id: "mic" });
      return Promise.resolve(null);
    }
    var c = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    if (deviceId) c.deviceId = { exact: deviceId };
    return navigator.mediaDevices.getUserMedia({ audio: c, video: false }).then(function (s) {
      clearNotice("mic");
      return s;
    }, function (e) {
      if (e.name === "NotAllowedError" || e.name === "SecurityError") notify(t("err.micDenied"), { sticky: true, id: "mic" });
      else if (e.name === "NotFoundError" || e.name === "OverconstrainedError") notify(t("err.micMissing"), { sticky: true, id: "mic" });
      else notify(t("err.audio", { msg: e.message }), { sticky: true, id: "mic" });
      return null;
    });
  }

  function startAudio() {
    closePC();
    S.audioEpoch = S.epoch;
    var micP = S.micStream ? Promise.resolve(S.micStream) : getMic(S.micId);
    return micP.then(function (stream) {
      if (S.stopped) return;
      if (stream && stream !== S.micStream) useMic(stream);
      var pc;
      try {
        pc = new RTCPeerConnection({ iceServers: S.iceServers, bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
      } catch (e) {
        // a malformed server entry: the LAN path still works without them
        notify(t("err.audio", { msg: e.message }), { id: "rtc" });
        pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
      }
      S.pc = pc;
      S.remoteReady = false; S.pendingRemote = []; S.offerAcked = false; S.pendingLocal = [];
      S.rtcState = pc.connectionState;
      var tr = S.micTrack ? pc.addTransceiver(S.micTrack, { direction: "sendrecv", streams: [S.micStream] })
        : pc.addTransceiver("audio", { direction: "recvonly" });
      S.sender = tr.sender;
      preferPCMU(tr);
      setMicSending(!!S.call && (S.call.phase === "talking" || S.call.phase === "consulting"));
      pc.onicecandidate = function (ev) {
        if (pc !== S.pc || !ev.candidate || !ev.candidate.candidate) return;
        var c = ev.candidate.toJSON();
        if (S.offerAcked) sendCandidate(c); else S.pendingLocal.push(c);
      };
      pc.ontrack = function (ev) {
        var el = $("remote-audio");
        el.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
        var p = el.play();
        if (p && p.catch) p.catch(function () { /* autoplay waits for the next click */ });
      };
      pc.onconnectionstatechange = function () {
        if (pc !== S.pc) return;
        S.rtcState = pc.connectionState;
        if (pc.connectionState === "connected") {
          clearTimeout(S.iceTimer);
          S.iceStuck = false;
          clearNotice("ice");
        }
        if (pc.connectionState === "failed") {
          iceTrouble();
          // ICE restart on the same peer connection (the DTLS session stays).
          if (pc.restartIce) pc.restartIce(); else negotiate(pc, true);
        }
        render();
      };
      pc.onnegotiationneeded = function () { negotiate(pc, false); };
      startStats();
      render();
    }, function (e) {
      notify(t("err.audio", { msg: e.message }), { sticky: true, id: "mic" });
    });
  }

  function negotiate(pc, restart) {
    if (pc !== S.pc || S.makingOffer) return;
    if (!S.wsOpen) return; // connect() calls ensureAudio again
    S.makingOffer = true;
    S.offerAcked = false;
    S.remoteReady = false;
    watchICE(pc);
    pc.createOffer(restart ? { iceRestart: true } : undefined).then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return send("rtc.offer", { sdp: pc.localDescription.sdp });
    }).then(function () {
      if (pc !== S.pc) return;
      S.offerAcked = true;
      S.audioEpoch = S.epoch; // this ctid process has the other end now
      var q = S.pendingLocal; S.pendingLocal = [];
      q.forEach(sendCandidate);
    }).catch(function (e) {
      notify(t("err.audio", { msg: e.message }), { id: "rtc" });
    }).then(function () { S.makingOffer = false; });
  }

  // watchICE tells the agent when the audio path is not up within 20 s of an offer
  // (ICE never completing: a firewall, a NAT without TURN).
  function watchICE(pc) {
    clearTimeout(S.iceTimer);
    S.iceTimer = setTimeout(function () {
      if (pc === S.pc && pc.connectionState !== "connected") iceTrouble();
    }, 20000);
  }

  function iceTrouble() {
    S.iceStuck = true;
    notify(t("err.iceFailed"), { sticky: true, id: "ice" });
    render();
  }

  function sendCandidate(c) {
    send("rtc.candidate", { candidate: c }).catch(function () { /* ICE copes with a lost candidate */ });
  }

  function onAnswer(sdp) {
    var pc = S.pc;
    if (!pc || pc.signalingState !== "have-local-offer") return;
    pc.setRemoteDescription({ type: "answer", sdp: sdp }).then(function () {
      if (pc !== S.pc) return;
      S.remoteReady = true;
      var q = S.pendingRemote; S.pendingRemote = [];
      q.forEach(function (c) { addRemote(pc, c); });
    }, function (e) {
      notify(t("err.audio", { msg: e.message }), { id: "rtc" });
    });
  }

  function onRemoteCandidate(c) {
    if (!c || !S.pc) return; // null: end of candidates
    if (!S.remoteReady) { S.pendingRemote.push(c); return; }
    addRemote(S.pc, c);
  }

  function addRemote(pc, c) {
    pc.addIceCandidate(c).catch(function () { /* a candidate of an older generation */ });
  }

  function preferPCMU(tr) {
    if (!tr.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) return;
    var caps = RTCRtpReceiver.getCapabilities("audio");
    if (!caps) return;
    var want = caps.codecs.filter(function (c) {
      var m = c.mimeType.toLowerCase();
      return c.clockRate === 8000 && (m === "audio/pcmu" || m === "audio/telephone-event");
    });
    if (!want.some(function (c) { return c.mimeType.toLowerCase() === "audio/pcmu"; })) return;
    try { tr.setCodecPreferences(want); } catch (e) { /* the gateway picks PCMU anyway */ }
  }

  // setMicSending sends the microphone only while talking: on hold and between
  // calls nothing leaves the browser.
  function setMicSending(on) {
    if (!S.sender) return;
    var want = on && S.micTrack ? S.micTrack : null;
    if (S.sender.track === want) return;
    S.sender.replaceTrack(want).catch(function () { /* the sender is gone with its pc */ });
  }

  function closePC() {
    if (S.pc) {
      var pc = S.pc;
      S.pc = null;
      S.sender = null;
      try { pc.close(); } catch (e) { /* already closed */ }
    }
    S.rtcState = "closed";
  }

  function useMic(stream) {
    var old = S.micStream;
    S.micStream = stream;
    S.micTrack = stream.getAudioTracks()[0] || null;
    if (S.micTrack && S.call) S.micTrack.enabled = !S.call.muted;
    if (S.sender && S.sender.track) S.sender.replaceTrack(S.micTrack).catch(function () {});
    if (old && old !== stream) old.getTracks().forEach(function (tr) { tr.stop(); });
    startMeter(stream);
    listMics();
  }

  function listMics() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    navigator.mediaDevices.enumerateDevices().then(function (list) {
      var sel = $("mic");
      var current = S.micTrack && S.micTrack.getSettings ? S.micTrack.getSettings().deviceId : S.micId;
      sel.textContent = "";
      var mics = list.filter(function (d) { return d.kind === "audioinput"; });
      if (!mics.length) {
        var o = document.createElement("option");
        o.value = ""; o.textContent = t("audio.defaultMic");
        sel.appendChild(o);
      }
      mics.forEach(function (d, i) {
        var o = document.createElement("option");
        o.value = d.deviceId;
        o.textContent = d.label || (t("audio.mic") + " " + (i + 1));
        if (d.deviceId === current) o.selected = true;
        sel.appendChild(o);
      });
    }, function () {});
  }

  function startMeter(stream) {
    clearInterval(S.meterTimer);
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    try {
      if (!S.audioCtx) S.audioCtx = new AC();
      if (S.audioCtx.state === "suspended") S.audioCtx.resume().catch(function () {});
      var src = S.audioCtx.createMediaStreamSource(stream);
      var an = S.audioCtx.createAnalyser();
      an.fftSize = 1024;
      src.connect(an);
      var buf = new Float32Array(an.fftSize);
      S.meterTimer = setInterval(function () {
        an.getFloatTimeDomainData(buf);
        var sum = 0;
        for (var i = 0; i < buf.length; i++) sum += buf[i] * buf[i];
        var rms = Math.sqrt(sum / buf.length);
        $("mic-level").value = Math.min(1, rms * 4);
      }, 100);
    } catch (e) { /* no meter; audio still works */ }
  }

  function startStats() {
    clearInterval(S.statsTimer);
    S.statsTimer = setInterval(function () {
      var pc = S.pc;
      if (!pc) return;
      pc.getStats().then(function (rep) {
        rep.forEach(function (r) {
          if (r.type === "inbound-rtp" && (r.kind === "audio" || r.mediaType === "audio")) S.packetsReceived = r.packetsReceived || 0;
        });
        $("audio-packets").textContent = String(S.packetsReceived);
      }, function () {});
    }, 1000);
  }

  // measureFirstAudio times accept → the first RTP packet of the call at this
  // browser (synchronization sources update per packet).
  function measureFirstAudio() {
    var pc = S.pc;
    if (!pc) return;
    var rx = pc.getReceivers()[0];
    if (!rx || !rx.getSynchronizationSources) return;
    var t0 = performance.timeOrigin + performance.now();
    S.metrics.acceptAt = t0;
    S.metrics.acceptToAudioMs = null;
    var iv = setInterval(function () {
      var now = performance.timeOrigin + performance.now();
      var src = rx.getSynchronizationSources().filter(function (s) { return s.timestamp > t0; });
      if (src.length) {
        var first = Math.min.apply(null, src.map(function (s) { return s.timestamp; }));
        S.metrics.acceptToAudioMs = (first > t0 && first <= now ? first : now) - t0;
        clearInterval(iv);
      } else if (now - t0 > 30000) clearInterval(iv);
    }, 5);
  }

  // ---- UI ----
  function setConn(kind) {
    S.connKind = kind;
    renderConn();
  }
  function renderConn() {
    var el = $("conn");
    if (S.connKind === "online") { el.textContent = t("conn.online"); el.className = "conn ok"; }
    else if (S.connKind === "offline") {
      var s = Math.max(0, Math.ceil((S.reconnectAt - Date.now()) / 1000));
      el.textContent = S.stopped ? t("err.offline") : t("conn.offline", { s: s });
      el.className = "conn bad";
    } else { el.textContent = t("conn.connecting"); el.className = "conn"; }
    var a = $("audio-state");
    var st = S.rtcState;
    if (st === "connected") { a.textContent = t("audio.connected"); a.className = "conn ok"; }
    else if (st === "failed" || st === "disconnected" || (S.iceStuck && S.pc)) { a.textContent = t("audio.failed"); a.className = "conn bad"; }
    else if (st === "closed" || !S.pc) { a.textContent = t("audio.off"); a.className = "conn bad"; }
    else { a.textContent = t("audio.connecting"); a.className = "conn"; }
  }

  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    var h = Math.floor(m / 60);
    var mm = String(m % 60).padStart(2, "0"), ss = String(s % 60).padStart(2, "0");
    return h ? h + ":" + mm + ":" + ss : m + ":" + ss;
  }

  function callerLabel(p) {
    return (p && (p.caller_name || p.caller_e164 || p.caller_number)) || t("pop.unknownCaller");
  }

  function show(id, on) { $(id).hidden = !on; }

  function setDL(dl, obj, skip) {
    dl.textContent = "";
    var n = 0;
    if (!obj || typeof obj !== "object") return 0;
    Object.keys(obj).forEach(function (k) {
      if (skip && skip.indexOf(k) >= 0) return;
      var v = obj[k];
      if (v === null || v === undefined || v === "") return;
      var dt = document.createElement("dt");
      dt.textContent = k.replace(/_/g, " ");
      var dd = document.createElement("dd");
      dd.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
      dl.appendChild(dt);
      dl.appendChild(dd);
      n++;
    });
    return n;
  }

  function safeLink(href, label) {
    var u;
    try { u = new URL(href, location.href); } catch (e) { return null; }
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    var a = document.createElement("a");
    a.href = u.href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.textContent = label;
    return a;
  }

  function renderPop(p) {
    $("pop-caller-name").textContent = callerLabel(p);
    $("pop-number").textContent = p.caller_e164 || p.caller_number || t("pop.anonymous");
    var camp = !p.queue && (p.campaign || p.campaign_id);
    $("pop-queue-label").textContent = camp ? t("pop.campaign") : t("pop.queue");
    $("pop-queue").textContent = p.queue || p.campaign || p.campaign_id || "—";
    $("pop-wait").textContent = typeof p.wait_seconds === "number" ? t("secondsShort", { n: p.wait_seconds }) : "—";
    $("pop-priority").textContent = p.priority !== undefined && p.priority !== null ? String(p.priority) : "—";
    $("pop-dialled").textContent = p.dialled || "—";
    var links = $("pop-links");
    links.textContent = "";
    [[p.crm_link, t("pop.crmLink")], [p.kb_link, t("pop.kbLink")]].forEach(function (l) {
      if (!l[0]) return;
      var a = safeLink(l[0], l[1]);
      if (a) links.appendChild(a);
    });
    var crm = {};
    if (p.contact && typeof p.contact === "object") Object.keys(p.contact).forEach(function (k) { crm[k] = p.contact[k]; });
    if (p.crm && typeof p.crm === "object") Object.keys(p.crm).forEach(function (k) { crm[k] = p.crm[k]; });
    var n = setDL($("pop-crm"), crm, ["dispositions"]);
    show("pop-crm-empty", n === 0);
    var ol = $("pop-history");
    ol.textContent = "";
    var hist = Array.isArray(p.history) ? p.history : [];
    hist.forEach(function (h) {
      var li = document.createElement("li");
      var time = document.createElement("time");
      time.dateTime = h.at || "";
      var d = h.at ? new Date(h.at) : null;
      time.textContent = d && !isNaN(d) ? d.toLocaleString(i18n.lang) : (h.at || "");
      li.appendChild(time);
      var parts = [h.direction, h.queue, (h.agents || []).join(", ") || h.agent, h.outcome, h.disposition].filter(function (x) { return x; });
      var s = document.createElement("span");
      s.textContent = " " + parts.join(" · ");
      li.appendChild(s);
      if (h.notes) {
        var q = document.createElement("q");
        q.textContent = h.notes;
        li.appendChild(q);
      }
      ol.appendChild(li);
    });
    show("pop-history-empty", hist.length === 0);
    $("pop-script").textContent = p.script || "—";
    setDL($("pop-vars"), p.variables);
  }

  // dispositionsOf is the wrap-up list of a call: the one ctid sent in the pop (the
  // campaign's or the queue's set), else the console's defaults. Each entry is
  // {code, label, callback}.
  function dispositionsOf(pop) {
    var list = pop && (pop.dispositions || (pop.crm && pop.crm.dispositions));
    if (!Array.isArray(list) || !list.length) {
      list = pop && pop.campaign_id ? ["sale", "not_interested", "callback", "wrong_number"]
        : ["resolved", "follow_up", "callback", "complaint", "wrong_number"];
    }
    var out = [];
    list.forEach(function (d) {
      var obj = typeof d === "object" && d !== null;
      var code = obj ? String(d.code || d.id || d.name || "") : String(d);
      if (!code) return;
      var label = obj && d.label && d.label !== code ? String(d.label) : (i18n.has("disp." + code) ? t("disp." + code) : code);
      out.push({ code: code, label: label, callback: obj ? d.callback === true : code === "callback" });
    });
    return out;
  }

  function fillDispositions(pop) {
    var sel = $("wu-disposition");
    var keep = sel.value;
    sel.textContent = "";
    var list = dispositionsOf(pop);
    if (S.wrap) S.wrap.disps = list;
    var ph = document.createElement("option");
    ph.value = ""; ph.textContent = "—";
    sel.appendChild(ph);
    list.forEach(function (d) {
      var o = document.createElement("option");
      o.value = d.code; o.textContent = d.label;
      if (d.callback) o.setAttribute("data-callback", "true");
      sel.appendChild(o);
    });
    if (keep) sel.value = keep;
    syncCallback();
  }

  // chosenIsCallback: the chosen disposition asks for a callback time.
  function chosenIsCallback() {
    var o = $("wu-disposition").selectedOptions[0];
    return !!(o && o.getAttribute("data-callback") === "true");
  }

  // syncCallback shows the callback date-time only for a callback disposition.
  function syncCallback() {
    var on = chosenIsCallback();
    $("wu-callback-row").hidden = !on;
    $("wu-callback").required = on;
  }

  function renderPreview() {
    var pv = S.preview;
    show("preview", !!pv);
    if (!pv) return;
    var e = pv.ev;
    $("preview-name").textContent = e.contact_name || e.number || "";
    $("preview-number").textContent = e.number || "—";
    $("preview-campaign").textContent = e.campaign || e.campaign_id || "—";
    $("preview-zone").textContent = e.zone || "—";
    show("preview-callback", !!e.callback);
    setDL($("preview-fields"), e.contact);
    $("preview-script").textContent = e.script || "";
    show("preview-script", !!e.script);
    $("preview-skips").textContent = e.max_skips ? t("preview.skipsMax", { n: e.max_skips }) : "";
    var online = S.wsOpen;
    $("btn-preview-dial").disabled = !online || !!pv.busy;
    $("btn-preview-skip").disabled = !online || !!pv.busy || e.skippable === false;
  }

  function render() {
    var loggedIn = !!S.token;
    show("login", !loggedIn);
    show("desk", loggedIn);
    show("statebar", loggedIn);
    renderConn();
    if (!loggedIn) return;
    $("agent-name").textContent = (S.user && (S.user.display_name || S.user.username)) || "";
    var st = S.agentState;
    var label = t("state." + st);
    if (st === "not_ready" && S.reason) label += " — " + (i18n.has("reason." + S.reason) ? t("reason." + S.reason) : S.reason);
    if (S.preview && (st === "reserved" || st === "offered")) label = t("preview.title");
    $("state-label").textContent = label;
    $("state-pill").className = "pill st-" + st;
    var c = S.call;
    var online = S.wsOpen;
    // Ready needs the audio path (ctid refuses it too): a call offered to a console
    // that cannot hear it would be lost time for the caller.
    var audioUp = !S.audioEnabled || S.rtcState === "connected" || S.rtcState === "disconnected";
    $("btn-ready").disabled = !online || !audioUp || !(st === "not_ready" || st === "logged_out" || st === "wrap_up" || st === "wrapup");
    $("btn-not-ready").disabled = !online || (st === "not_ready" && !c);
    renderPreview();
    // Manual dial: only when free (ready or not ready, no call, no wrap-up).
    var free = !c && !S.wrap && !S.preview;
    $("btn-dial").disabled = !online || !free || S.dialing;
    $("dial-number").disabled = !online || !free;
    // Offer toast and screen-pop.
    show("offer", !!(c && c.phase === "offered"));
    var pop = (c && c.pop) || (S.wrap && S.wrap.pop) || null;
    show("pop", !!pop);
    if (pop) renderPop(pop);
    $("btn-accept").disabled = !online || !(c && c.phase === "offered");
    $("btn-reject").disabled = !online || !(c && c.phase === "offered") || (c.pop && c.pop.direction === "consult");
    // Call controls.
    var inCall = !!(c && c.phase !== "offered");
    show("call", inCall);
    if (inCall) {
      $("call-status").textContent = callerLabel(c.pop) + " — " + t("call." + (c.phase === "connecting" ? "connecting" : c.phase));
      var talking = c.phase === "talking", held = c.phase === "held";
      $("btn-hold").disabled = !online || !(talking || held);
      $("btn-hold").textContent = held ? t("unhold") : t("hold");
      $("btn-hold").setAttribute("aria-pressed", held ? "true" : "false");
      $("btn-mute").disabled = !online || !(talking || held);
      $("btn-mute").textContent = c.muted ? t("unmute") : t("mute");
      $("btn-mute").setAttribute("aria-pressed", c.muted ? "true" : "false");
      $("btn-hangup").disabled = !online;
      var pad = $("dtmf-pad").querySelectorAll("button");
      for (var i = 0; i < pad.length; i++) pad[i].disabled = !online || !talking;
      var kind = $("xfer-kind").value;
      var consulting = !!(c.consult && c.consult.state !== "conference");
      $("btn-xfer-blind").disabled = !online || !(talking || held) || consulting;
      $("btn-xfer-consult").disabled = !online || !(talking || held) || consulting || kind !== "agent";
      show("xfer-note", kind !== "agent");
      show("consult", !!c.consult);
      if (c.consult) {
        var key = c.consult.state === "conference" ? "transfer.conferenced" : (c.consult.state === "connected" ? "transfer.connected" : "transfer.calling");
        $("consult-status").textContent = t(key, { target: c.consult.target, parties: c.consult.target });
        $("btn-xfer-complete").disabled = !online || c.consult.state !== "connected";
        $("btn-conference").disabled = !online || c.consult.state !== "connected";
        $("btn-xfer-cancel").disabled = !online || c.consult.state === "conference";
      }
    }
    // Wrap-up.
    show("wrapup", !!S.wrap);
    $("btn-wrapup").disabled = !online;
    // Idle hint.
    show("idle", !c && !S.wrap && !S.preview);
    $("idle-hint").textContent = st === "ready" ? t("idle.ready") : t("idle.notReady");
    ring(!!(c && c.phase === "offered"));
    tick();
  }

  // ring plays the Polish ring cadence (425 Hz, 1 s on, 4 s off) on this
  // computer's speakers while a call is offered.
  function ring(on) {
    if (!on) {
      clearInterval(S.ringTimer);
      S.ringTimer = 0;
      if (S.ringOsc) { try { S.ringOsc.stop(); } catch (e) { /* already stopped */ } S.ringOsc = null; }
      return;
    }
    if (S.ringTimer || !S.audioCtx) return;
    var beep = function () {
      try {
        var ctx = S.audioCtx, o = ctx.createOscillator(), g = ctx.createGain();
        o.frequency.value = 425;
        g.gain.value = 0.08;
        o.connect(g);
        g.connect(ctx.destination);
        o.start();
        o.stop(ctx.currentTime + 1);
        S.ringOsc = o;
      } catch (e) { /* no speakers: the toast and the title still show the call */ }
    };
    beep();
    S.ringTimer = setInterval(beep, 5000);
  }

  function tick() {
    if (!S.token) return;
    var now = Date.now();
    $("state-timer").textContent = clock(now - S.stateSince);
    var c = S.call;
    if (c && c.phase === "offered" && c.expiresAt) $("offer-countdown").textContent = clock(c.expiresAt - now);
    else $("offer-countdown").textContent = "";
    if (c && c.phase !== "offered") $("call-timer").textContent = clock(now - c.since);
    $("preview-countdown").textContent = S.preview && S.preview.autoAt ? t("preview.autoDial", { t: clock(S.preview.autoAt - now) }) : "";
    if (S.wrap && S.wrap.deadline) $("wrapup-countdown").textContent = clock(S.wrap.deadline - now);
    else $("wrapup-countdown").textContent = "";
    if (S.connKind === "offline") renderConn();
  }

  // ---- actions ----
  function login(ev) {
    ev.preventDefault();
    var u = $("username").value.trim(), p = $("password").value;
    var err = $("login-error");
    err.textContent = "";
    if (!u || !p) { err.textContent = t("login.missing"); return; }
    $("btn-login").disabled = true;
    unlockAudio();
    api("POST", "/api/v1/login", { username: u, password: p }).then(function (r) {
      $("btn-login").disabled = false;
      if (r.status === 200 && r.body && r.body.token) {
        $("password").value = "";
        startSession(r.body.token, r.body.user);
        setTimeout(function () { $("btn-ready").focus(); }, 0);
      } else if (r.status === 429) err.textContent = t("login.rateLimited");
      else err.textContent = t("login.failed");
    }, function (e) {
      $("btn-login").disabled = false;
      err.textContent = t("err.server", { msg: e.message });
    });
  }

  function startSession(token, user) {
    S.token = token;
    S.user = user || null;
    S.lastSeq = 0; S.epoch = "";
    try { sessionStorage.setItem("ctid.token", token); sessionStorage.setItem("ctid.user", JSON.stringify(user || {})); } catch (e) { /* private mode */ }
    render();
    connect();
  }

  function endSession() {
    S.stopped = true;
    clearNotice("offline");
    clearTimeout(S.reconnectTimer);
    if (S.ws) { try { S.ws.close(1000, "logout"); } catch (e) { /* closed */ } }
    S.ws = null; S.wsOpen = false;
    closePC();
    clearInterval(S.statsTimer);
    S.token = ""; S.user = null; S.call = null; S.wrap = null; S.preview = null; S.agentState = "logged_out";
    S.lastPop = {};
    try { ["ctid.token", "ctid.user", "ctid.pops", "ctid.wrap"].forEach(function (k) { sessionStorage.removeItem(k); }); } catch (e) { /* private mode */ }
    render();
    setTimeout(function () { $("username").focus(); }, 0);
  }

  function logout() {
    var done = function () { api("POST", "/api/v1/logout").then(endSession, endSession); };
    send("agent.logout").then(done, done);
  }

  function unlockAudio() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!S.audioCtx && AC) { try { S.audioCtx = new AC(); } catch (e) { /* no Web Audio: no ring, no meter */ } }
    var el = $("remote-audio");
    if (el.srcObject) { var p = el.play(); if (p && p.catch) p.catch(function () {}); }
    if (S.audioCtx && S.audioCtx.state === "suspended") S.audioCtx.resume().catch(function () {});
  }

  function accept() {
    var c = S.call;
    if (!c || c.phase !== "offered") return;
    unlockAudio();
    measureFirstAudio();
    c.phase = "connecting";
    c.since = Date.now();
    render();
    act("call.accept", { call_id: c.id }).then(function (r) {
      if (!r && S.call === c && c.phase === "connecting") { c.phase = "offered"; render(); }
    });
  }

  function reject() {
    var c = S.call;
    if (!c || c.phase !== "offered") return;
    act("call.reject", { call_id: c.id }).then(function (r) {
      if (r && S.call === c) { S.call = null; render(); }
    });
  }

  function toggleHold() {
    var c = S.call;
    if (!c) return;
    if (c.phase === "talking") act("call.hold", { call_id: c.id });
    else if (c.phase === "held") act("call.unhold", { call_id: c.id });
  }

  function toggleMute() {
    var c = S.call;
    if (!c || (c.phase !== "talking" && c.phase !== "held")) return;
    var on = !c.muted;
    act(on ? "call.mute" : "call.unmute", { call_id: c.id }).then(function (r) {
      if (!r) return;
      c.muted = on;
      if (S.micTrack) S.micTrack.enabled = !on;
      render();
    });
  }

  function hangup() {
    var c = S.call;
    if (!c || c.phase === "offered") return;
    act("call.hangup", { call_id: c.id });
  }

  function dtmf(d) {
    var c = S.call;
    if (!c || c.phase !== "talking") return;
    act("call.dtmf", { call_id: c.id, digits: d });
  }

  function transfer(mode) {
    var c = S.call;
    if (!c) return;
    var kind = $("xfer-kind").value, target = $("xfer-target").value.trim();
    if (!target) { notify(t("transfer.needTarget")); $("xfer-target").focus(); return; }
    var to = {};
    to[kind] = target;
    act("call.transfer", { call_id: c.id, to: to, mode: mode }).then(function (r) {
      if (r && mode === "attended" && S.call === c && !c.consult) {
        c.consult = { target: target, state: "ringing" };
        c.phase = "consulting";
        render();
      }
    });
  }

  function consultEnd(cmd) {
    var c = S.call;
    if (!c) return;
    act(cmd, { call_id: c.id });
  }

  function wrapDone(ev) {
    ev.preventDefault();
    var w = S.wrap;
    if (!w) return;
    var disp = $("wu-disposition").value;
    if (!disp) { notify(t("wrapup.pick")); $("wu-disposition").focus(); return; }
    var args = { call_id: w.callId, disposition: disp, notes: $("wu-notes").value };
    if (chosenIsCallback()) {
      var d = new Date($("wu-callback").value);
      if (!$("wu-callback").value || isNaN(d)) { notify(t("wrapup.needCallback")); syncCallback(); $("wu-callback").focus(); return; }
      args.callback_at = d.toISOString();
    }
    $("btn-wrapup").disabled = true;
    act("wrapup.done", args).then(function (r) {
      $("btn-wrapup").disabled = false;
      if (!r) return;
      try { sessionStorage.removeItem("ctid.wrap." + w.callId); sessionStorage.removeItem("ctid.wrap"); } catch (e) { /* private mode */ }
      if (S.wrap === w) S.wrap = null;
      delete S.lastPop[w.callId];
      savePops();
      notify(args.callback_at ? t("wrapup.callbackNote", { at: new Date(args.callback_at).toLocaleString(i18n.lang) }) : t("wrapup.saved"), { kind: "info" });
      render();
    });
  }

  // dial places a manual call (call.dial): refused numbers (do-not-call) and a ctid
  // without an outside line are said plainly next to the form.
  function dial(ev) {
    ev.preventDefault();
    var n = $("dial-number").value.trim();
    var err = $("dial-error");
    err.textContent = "";
    if (!n) { err.textContent = t("dial.needNumber"); $("dial-number").focus(); return; }
    S.dialing = true;
    render();
    unlockAudio();
    send("call.dial", { number: n }).then(function () {
      S.dialing = false;
      $("dial-number").value = "";
      notify(t("dial.started", { number: n }), { kind: "info" });
      render();
    }, function (e) {
      S.dialing = false;
      var msg = e.message || "";
      if (e.code === "forbidden" && /do.not.call|dnc/i.test(msg)) err.textContent = t("dial.dnc", { number: n });
      else if (e.code === "invalid_state" && /campaign_id|endpoint/i.test(msg)) err.textContent = t("dial.noEndpoint");
      else if (e.code === "invalid_state" && /ready|reserv|transition|agent/i.test(msg)) err.textContent = t("dial.notReady") + " (" + msg + ")";
      else err.textContent = t("dial.refused", { msg: msg });
      render();
    });
  }

  // previewAnswer dials (call.accept) or skips (call.reject) the previewed contact.
  function previewAnswer(dialIt) {
    var pv = S.preview;
    if (!pv || pv.busy) return;
    pv.busy = true;
    $("preview-error").textContent = "";
    render();
    if (dialIt) unlockAudio();
    send(dialIt ? "call.accept" : "call.reject", { call_id: pv.id }).then(function () {
      pv.busy = false;
      if (S.preview === pv && !dialIt) { S.preview = null; document.title = "ctid — agent console"; }
      render();
    }, function (e) {
      pv.busy = false;
      $("preview-error").textContent = t(dialIt ? "preview.dialRefused" : "preview.skipRefused", { msg: e.message || "" });
      render();
    });
  }

  function saveWrapDraft() {
    if (!S.wrap) return;
    var d = { disposition: $("wu-disposition").value, notes: $("wu-notes").value, callback: $("wu-callback").value };
    try { sessionStorage.setItem("ctid.wrap." + S.wrap.callId, JSON.stringify(d)); } catch (e) { /* private mode or full */ }
  }

  function switchMic() {
    var id = $("mic").value;
    S.micId = id;
    getMic(id).then(function (s) {
      if (!s) return;
      useMic(s);
      var sending = S.call && (S.call.phase === "talking" || S.call.phase === "consulting");
      if (S.sender) S.sender.replaceTrack(sending ? S.micTrack : null).catch(function () {});
      if (!S.pc) ensureAudio();
    });
  }

  function onKey(e) {
    if (!e.altKey || e.ctrlKey || e.metaKey || !S.token) return;
    var map = { KeyA: "btn-accept", KeyR: "btn-reject", KeyH: "btn-hangup", KeyO: "btn-hold", KeyM: "btn-mute" };
    var id = map[e.code];
    if (!id) return;
    var b = $(id);
    e.preventDefault();
    if (b && !b.disabled && !b.closest("[hidden]")) b.click();
  }

  function buildPad() {
    var pad = $("dtmf-pad");
    "123456789*0#".split("").forEach(function (d) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = d;
      b.setAttribute("aria-label", "DTMF " + d);
      b.addEventListener("click", function () { dtmf(d); });
      pad.appendChild(b);
    });
  }

  function init() {
    var saved = "";
    try { saved = localStorage.getItem("ctid.lang") || ""; } catch (e) { /* private mode */ }
    var lang = i18n.set(i18n.detect(saved));
    $("lang").value = lang;
    $("lang").addEventListener("change", function () {
      i18n.set($("lang").value);
      try { localStorage.setItem("ctid.lang", i18n.lang); } catch (e) { /* private mode */ }
      if (S.wrap) fillDispositions(S.wrap.pop);
      render();
    });
    buildPad();
    $("login-form").addEventListener("submit", login);
    $("btn-ready").addEventListener("click", function () { act("agent.ready"); });
    $("btn-not-ready").addEventListener("click", function () { act("agent.not_ready", { reason: $("nr-reason").value }); });
    $("btn-logout").addEventListener("click", logout);
    $("btn-accept").addEventListener("click", accept);
    $("btn-reject").addEventListener("click", reject);
    $("btn-hold").addEventListener("click", toggleHold);
    $("btn-mute").addEventListener("click", toggleMute);
    $("btn-hangup").addEventListener("click", hangup);
    $("btn-xfer-blind").addEventListener("click", function () { transfer("blind"); });
    $("btn-xfer-consult").addEventListener("click", function () { transfer("attended"); });
    $("btn-xfer-complete").addEventListener("click", function () { consultEnd("call.transfer.complete"); });
    $("btn-xfer-cancel").addEventListener("click", function () { consultEnd("call.transfer.cancel"); });
    $("btn-conference").addEventListener("click", function () { consultEnd("call.conference"); });
    $("xfer-kind").addEventListener("change", render);
    $("wrapup-form").addEventListener("submit", wrapDone);
    // Keep the wrap-up draft in this tab, so that a reload does not lose the notes.
    ["wu-disposition", "wu-notes", "wu-callback"].forEach(function (id) {
      $(id).addEventListener("input", saveWrapDraft);
      $(id).addEventListener("change", saveWrapDraft);
    });
    $("mic").addEventListener("change", switchMic);
    $("dial-form").addEventListener("submit", dial);
    $("dial-number").addEventListener("input", function () { $("dial-error").textContent = ""; });
    $("btn-preview-dial").addEventListener("click", function () { previewAnswer(true); });
    $("btn-preview-skip").addEventListener("click", function () { previewAnswer(false); });
    $("wu-disposition").addEventListener("change", syncCallback);
    document.addEventListener("keydown", onKey);
    document.addEventListener("click", unlockAudio);
    S.tickTimer = setInterval(tick, 1000);
    var token = "", user = null;
    try {
      token = sessionStorage.getItem("ctid.token") || "";
      user = JSON.parse(sessionStorage.getItem("ctid.user") || "null");
    } catch (e) { token = ""; }
    if (token) {
      S.token = token;
      loadPops();
      api("GET", "/api/v1/me").then(function (r) {
        if (r.status === 200) startSession(token, (r.body && (r.body.user || r.body)) || user);
        else { S.token = ""; endSession(); }
      }, function () { S.token = ""; endSession(); });
    }
    render();
  }

  // Diagnostics for support and for the browser test (read-only view).
  window.ctidConsole = {
    get pc() { return S.pc; },
    get state() { return { agent: S.agentState, call: S.call && { id: S.call.id, phase: S.call.phase }, wrap: S.wrap && S.wrap.callId, ws: S.wsOpen, rtc: S.rtcState, lastSeq: S.lastSeq, preview: S.preview && S.preview.id }; },
    get iceServers() { return S.iceServers.slice(); },
    get metrics() { return { acceptToAudioMs: S.metrics.acceptToAudioMs, packetsReceived: S.packetsReceived }; }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
