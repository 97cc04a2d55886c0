// The browser phone: one extension of the switch, signed in with its own credentials.
// SIP over WebSocket and WebRTC by JsSIP (vendored); this file is only the page's behaviour.
// The page's state is on <body data-state>: login, registering, ready, calling, ringing, in-call.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("phone-config").textContent);
  const media = {
    mediaConstraints: { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false },
    pcConfig: { iceServers: [] },
  };
  let ua = null;
  let session = null;
  let domain = "";
  let entry = null; // the call being logged

  function state(name, text) {
    document.body.dataset.state = name;
    if (text) $("status").textContent = text;
    $("login").hidden = name === "login" ? false : ua !== null;
    $("phone").hidden = ua === null || name === "registering";
    $("incoming").hidden = name !== "ringing";
    $("controls").hidden = !["calling", "in-call"].includes(name);
  }

  function socketUrl() {
    const secure = location.protocol === "https:" || config.ws === null;
    const port = secure ? config.wss : config.ws;
    return `${secure ? "wss" : "ws"}://${location.hostname}:${port}`;
  }

  function uri(number) { return `sip:${number}@${domain}`; }

  function readLog() {
    try { return JSON.parse(localStorage.getItem("softswitch.calls") || "[]"); } catch { return []; }
  }

  function showLog() {
    const list = $("log");
    list.replaceChildren(...readLog().slice(-20).reverse().map((c) => {
      const item = document.createElement("li");
      const when = new Date(c.at).toLocaleString();
      item.textContent = `${c.direction === "in" ? "←" : "→"} ${c.number} · ${c.outcome} · ${c.seconds} s · ${when}`;
      return item;
    }));
  }

  function logCall(outcome) {
    if (entry === null) return;
    entry.outcome = outcome;
    entry.seconds = entry.answered ? Math.round((Date.now() - entry.answered) / 1000) : 0;
    const calls = readLog();
    calls.push(entry);
    localStorage.setItem("softswitch.calls", JSON.stringify(calls.slice(-100)));
    entry = null;
    showLog();
  }

  function follow(s, direction, number) {
    session = s;
    entry = { at: Date.now(), direction, number, outcome: "", seconds: 0, answered: 0 };
    s.on("peerconnection", (e) => {
      e.peerconnection.addEventListener("track", (t) => { $("remote").srcObject = t.streams[0] || new MediaStream([t.track]); });
    });
    s.on("confirmed", () => {
      entry.answered = Date.now();
      const receivers = s.connection.getReceivers().map((r) => r.track);
      if (!$("remote").srcObject && receivers.length) $("remote").srcObject = new MediaStream(receivers);
      state("in-call", `In a call with ${number}`);
    });
    s.on("ended", (e) => { logCall(e.originator === "local" ? "hung up" : "ended"); session = null; state("ready", `Call ended (${e.cause})`); });
    s.on("failed", (e) => { logCall(e.cause); session = null; state("ready", `Call failed: ${e.cause}`); });
    s.on("hold", () => { $("hold").setAttribute("aria-pressed", "true"); $("hold").textContent = "Resume"; });
    s.on("unhold", () => { $("hold").setAttribute("aria-pressed", "false"); $("hold").textContent = "Hold"; });
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const number = $("number").value.trim();
    domain = $("domain").value.trim();
    localStorage.setItem("softswitch.login", JSON.stringify({ number, domain }));
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(socketUrl())],
      uri: uri(number), password: $("password").value, register: true, session_timers: false,
      user_agent: "softswitch browser phone",
    });
    $("password").value = "";
    $("me").textContent = `${number}@${domain}`;
    ua.on("registered", () => state("ready", "Ready"));
    ua.on("registrationFailed", (ev) => { ua.stop(); ua = null; state("login", `Sign-in failed: ${ev.cause}`); });
    ua.on("disconnected", () => { if (ua !== null && !session) state("registering", "Connection lost; trying again"); });
    ua.on("newRTCSession", (ev) => {
      if (ev.originator !== "remote") return;
      if (session) { ev.session.terminate({ status_code: 486, reason_phrase: "Busy Here" }); return; }
      const from = ev.request.from.display_name || ev.request.from.uri.user;
      follow(ev.session, "in", from);
      $("caller").textContent = `Call from ${from}`;
      state("ringing", `Call from ${from}`);
    });
    state("registering", "Signing in");
    ua.start();
  });

  $("dialer").addEventListener("submit", (e) => {
    e.preventDefault();
    const number = $("dial").value.trim();
    if (!ua || session || !number) return;
    follow(ua.call(uri(number), media), "out", number);
    state("calling", `Calling ${number}`);
  });

  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => {
      const pressed = key.dataset.key;
      if (session && session.isEstablished()) session.sendDTMF(pressed, { transportType: "RFC2833" });
      else $("dial").value += pressed;
    });
  }
  $("accept").addEventListener("click", () => session && session.answer(media));
  $("reject").addEventListener("click", () => session && session.terminate({ status_code: 486, reason_phrase: "Busy Here" }));
  $("hangup").addEventListener("click", () => session && session.terminate());
  $("hold").addEventListener("click", () => {
    if (!session) return;
    if (session.isOnHold().local) session.unhold(); else session.hold();
  });
  $("mute").addEventListener("click", () => {
    if (!session) return;
    const muted = session.isMuted().audio;
    if (muted) session.unmute({ audio: true }); else session.mute({ audio: true });
    $("mute").setAttribute("aria-pressed", String(!muted));
    $("mute").textContent = muted ? "Mute" : "Unmute";
  });
  $("park").addEventListener("click", () => session && session.refer(uri(config.park_code)));
  $("transfer").addEventListener("click", () => {
    const target = $("transfer-to").value.trim();
    if (session && target) session.refer(uri(target));
  });
  $("sign-out").addEventListener("click", () => {
    if (ua) { ua.stop(); ua = null; }
    state("login", "Signed out");
  });

  try {
    const saved = JSON.parse(localStorage.getItem("softswitch.login") || "null");
    if (saved) { $("number").value = saved.number; if (!$("domain").value) $("domain").value = saved.domain; }
  } catch { /* a fresh browser */ }
  showLog();
  state("login");
})();
