// The browser phone: one extension of the switch, signed in with its own credentials.
// SIP over WebSocket and WebRTC by JsSIP (vendored); this file is only the page's behaviour.
// The page's state is on <body data-state>: login, registering, ready, calling, ringing, in-call.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("phone-config").textContent);
  const t = config.labels;
  const say = (key, value) => t[key].replace("{}", value);
  // The microphone's clean-up (echo cancellation, noise suppression, gain) is on unless the
  // user turns it off (music, a headset with its own, or a test tone that suppression removes).
  $("processing").checked = localStorage.getItem("softswitch.processing") !== "off";
  $("processing").addEventListener("change", () => {
    localStorage.setItem("softswitch.processing", $("processing").checked ? "on" : "off");
  });
  function media() {
    const on = $("processing").checked;
    return {
      mediaConstraints: { audio: { echoCancellation: on, noiseSuppression: on, autoGainControl: on }, video: false },
      pcConfig: { iceServers: [] },
    };
  }
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
      const when = new Date(c.at).toLocaleString(document.documentElement.lang);
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
      state("in-call", say("in_call", number));
    });
    s.on("ended", (e) => {
      logCall(e.originator === "local" ? t.hung_up : t.ended); session = null; state("ready", say("call_ended", e.cause));
    });
    s.on("failed", (e) => { logCall(e.cause); session = null; state("ready", say("call_failed", e.cause)); });
    s.on("hold", () => { $("hold").setAttribute("aria-pressed", "true"); $("hold").textContent = t.resume; });
    s.on("unhold", () => { $("hold").setAttribute("aria-pressed", "false"); $("hold").textContent = t.hold; });
  }

  function signIn(number, password) {
    localStorage.setItem("softswitch.login", JSON.stringify({ number, domain }));
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(socketUrl())],
      uri: uri(number), password, register: true, session_timers: false,
      user_agent: "softswitch browser phone",
    });
    $("me").textContent = `${number}@${domain}`;
    ua.on("registered", () => state("ready", t.ready));
    ua.on("registrationFailed", (ev) => { ua.stop(); ua = null; state("login", say("sign_in_failed", ev.cause)); });
    ua.on("disconnected", () => { if (ua !== null && !session) state("registering", t.connection_lost); });
    ua.on("newRTCSession", (ev) => {
      if (ev.originator !== "remote") return;
      if (session) { ev.session.terminate({ status_code: 486, reason_phrase: "Busy Here" }); return; }
      const from = ev.request.from.display_name || ev.request.from.uri.user;
      follow(ev.session, "in", from);
      $("caller").textContent = say("call_from", from);
      state("ringing", say("call_from", from));
    });
    state("registering", t.signing_in);
    ua.start();
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    domain = $("domain").value.trim();
    const password = $("password").value;
    $("password").value = "";
    signIn($("number").value.trim(), password);
  });

  // A sign-in link (softswitch extensions web-link) is in the address's fragment, which
  // browsers never send to a server: the page trades it once for the extension's credentials.
  async function openLink(token) {
    history.replaceState(null, "", location.pathname + location.search);
    state("login", t.opening_link);
    try {
      const answer = await fetch("/phone/link", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
      });
      const body = await answer.json();
      if (!answer.ok) { state("login", say("sign_in_failed", body.error)); return; }
      domain = body.domain;
      config.park_code = body.park_code;
      $("number").value = body.number;
      $("domain").value = body.domain;
      signIn(body.number, body.password);
    } catch (err) {
      state("login", say("sign_in_failed", String(err)));
    }
  }

  $("dialer").addEventListener("submit", (e) => {
    e.preventDefault();
    const number = $("dial").value.trim();
    if (!ua || session || !number) return;
    follow(ua.call(uri(number), media()), "out", number);
    state("calling", say("calling", number));
  });

  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => {
      const pressed = key.dataset.key;
      if (session && session.isEstablished()) session.sendDTMF(pressed, { transportType: "RFC2833" });
      else $("dial").value += pressed;
    });
  }
  $("accept").addEventListener("click", () => session && session.answer(media()));
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
    $("mute").textContent = muted ? t.mute : t.unmute;
  });
  $("park").addEventListener("click", () => session && session.refer(uri(config.park_code)));
  $("transfer").addEventListener("click", () => {
    const target = $("transfer-to").value.trim();
    if (session && target) session.refer(uri(target));
  });
  $("sign-out").addEventListener("click", () => {
    if (ua) { ua.stop(); ua = null; }
    state("login", t.signed_out);
  });

  try {
    const saved = JSON.parse(localStorage.getItem("softswitch.login") || "null");
    if (saved) { $("number").value = saved.number; if (!$("domain").value) $("domain").value = saved.domain; }
  } catch { /* a fresh browser */ }
  showLog();
  state("login");
  const link = new URLSearchParams(location.hash.slice(1)).get("link");
  if (link) openLink(link);
})();
