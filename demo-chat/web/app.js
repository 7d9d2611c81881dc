// app.js: the demo-chat page: one WebSocket to Portico; rooms, presence, history, typing, RTT.
//
// Protocol (see demo-chat/README.md): the page sends {"action": ...} messages; Portico routes
// them by $request.body.action. join, rooms and ping are two-way (the answer comes back on
// the same socket); sendmessage and typing are one-way, and everything the room should see
// arrives as pushes the backend makes through @connections.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const enc = new TextEncoder();

  const PING_EVERY_MS = 5000;
  const ROOMS_EVERY_MS = 10000;
  const TYPING_SEND_EVERY_MS = 2500;
  const TYPING_IDLE_MS = 3500;
  const TYPING_SHOW_MS = 6000;
  const BACKOFF_MIN_MS = 400;
  const BACKOFF_MAX_MS = 10000;

  const s = {
    ws: null,
    url: null,
    cid: null,
    room: roomName(params.get("room")) || "lobby",
    name: nick(params.get("name")) || nick(sessionStorage.getItem("chat.name")) ||
      "guest-" + String(Math.floor(1000 + Math.random() * 9000)),
    online: false,
    everOnline: false,
    attempt: 0,
    reconnects: 0,
    retryTimer: null,
    countdownTimer: null,
    pingTimer: null,
    roomsTimer: null,
    rtts: [],
    typingSentAt: 0,
    typingIdleTimer: null,
    typers: new Map(), // cid -> {name, until}
    members: [],
    rooms: [],
    lastText: null, // the last message sent, sent again if the backend asks us to rejoin
    resend: null,
  };
  sessionStorage.setItem("chat.name", s.name);

  // ---- names, as the backend checks them ----------------------------------------------------

  function roomName(v) {
    if (!v) return null;
    v = String(v).trim().toLowerCase();
    return /^[a-z0-9_-]{1,32}$/.test(v) ? v : null;
  }

  function nick(v) {
    if (!v) return null;
    v = String(v).trim();
    // eslint-disable-next-line no-control-regex
    if (!v || /[\u0000-\u001f\u007f-\u009f]/.test(v)) return null;
    while (enc.encode(v).length > 32) v = Array.from(v).slice(0, -1).join("");
    return v || null;
  }

  // ---- where to connect ------------------------------------------------------------------------

  // ?ws=URL wins. Otherwise config.json (a relative URL, so it works whether this page comes
  // from the backend or, later, through Portico) names the stage and Portico's port; the host
  // and the scheme come from this page's own location.
  async function resolveUrl() {
    const forced = params.get("ws");
    if (forced) return forced;
    let cfg = null;
    try {
      const r = await fetch("config.json", { cache: "no-store" });
      if (r.ok) cfg = await r.json();
    } catch (e) {
      // The page's server may be restarting (make demo restarts both).
    }
    if (!cfg && s.url) return s.url; // keep what worked last time
    cfg = cfg || {};
    if (cfg.wsUrl) return cfg.wsUrl;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let host = location.hostname;
    if (host.includes(":") && !host.startsWith("[")) host = "[" + host + "]";
    const port = cfg.wsPort ? String(cfg.wsPort) : location.port;
    return `${scheme}//${host}${port ? ":" + port : ""}/${cfg.stage || "dev"}`;
  }

  // ---- connection ----------------------------------------------------------------------------

  function setState(state, detail) {
    const el = $("state");
    el.dataset.state = state;
    el.textContent = detail || state;
    $("state-detail").textContent = detail || state;
    document.body.dataset.state = state;
    $("send").disabled = state !== "online";
  }

  async function connect() {
    clearTimers();
    setState("connecting", s.everOnline ? "reconnecting…" : "connecting…");
    s.url = await resolveUrl();
    $("endpoint").textContent = s.url;
    let ws;
    try {
      // room and name also travel in the query string: the $connect event shows them to the
      // backend (queryStringParameters), which refuses malformed ones with a 400.
      const u = new URL(s.url);
      u.searchParams.set("room", s.room);
      u.searchParams.set("name", s.name);
      ws = new WebSocket(u.toString());
    } catch (e) {
      system(`Cannot open ${s.url}: ${e.message}`, "error");
      scheduleReconnect();
      return;
    }
    s.ws = ws;
    ws.onopen = () => {
      // $connect accepted us; the welcome (the join route's answer) makes us "online".
      send({ action: "join", room: s.room, name: s.name });
    };
    ws.onmessage = (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch (err) {
        system(`Unexpected frame: ${e.data}`, "error");
        return;
      }
      // One frame holds one message, or an array of them when the backend had several
      // waiting for us (a burst): in order either way.
      for (const msg of Array.isArray(data) ? data : [data]) if (msg) handle(msg);
    };
    ws.onclose = (e) => {
      if (s.ws !== ws) return;
      s.ws = null;
      const was = s.online;
      s.online = false;
      s.cid = null;
      $("conn-id").textContent = "–";
      stopPeriodic();
      s.typers.clear();
      renderTyping();
      if (was) system(`Connection lost (${e.code}${e.reason ? " " + e.reason : ""}).`, "warn");
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** s.attempt);
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    s.attempt++;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, until - Date.now());
      setState("reconnecting", `reconnecting in ${(left / 1000).toFixed(1)} s (attempt ${s.attempt})`);
    };
    tick();
    s.countdownTimer = setInterval(tick, 100);
    s.retryTimer = setTimeout(() => {
      clearTimers();
      connect();
    }, delay);
  }

  function clearTimers() {
    clearTimeout(s.retryTimer);
    clearInterval(s.countdownTimer);
    s.retryTimer = s.countdownTimer = null;
  }

  function send(obj) {
    if (s.ws && s.ws.readyState === WebSocket.OPEN) {
      s.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  function startPeriodic() {
    stopPeriodic();
    // The first ping waits for the page to settle: right after the welcome it would also
    // measure the rendering of the history.
    s.firstPingTimer = setTimeout(ping, 300);
    s.pingTimer = setInterval(ping, PING_EVERY_MS);
    s.roomsTimer = setInterval(() => send({ action: "rooms" }), ROOMS_EVERY_MS);
  }

  function stopPeriodic() {
    clearTimeout(s.firstPingTimer);
    clearInterval(s.pingTimer);
    clearInterval(s.roomsTimer);
    s.pingTimer = s.roomsTimer = null;
  }

  function ping() {
    send({ action: "ping", t: performance.now() });
  }

  // ---- what arrives --------------------------------------------------------------------------

  function handle(msg) {
    switch (msg.type) {
      case "welcome":
        return welcome(msg);
      case "message":
        if (msg.room === s.room) {
          addMessage(msg);
          s.typers.delete(msg.cid);
          renderTyping();
        }
        return;
      case "joined":
        system(`${msg.name} joined`, "join");
        return renderMembers(msg.members);
      case "left":
        system(msg.reason === "gone" ? `${msg.name} is gone (connection closed)` :
          msg.reason === "moved" ? `${msg.name} moved to another room` : `${msg.name} left`, "leave");
        s.typers.delete(msg.cid);
        renderTyping();
        return renderMembers(msg.members);
      case "renamed":
        system(`${msg.old} is now ${msg.name}`, "join");
        return renderMembers(msg.members);
      case "typing":
        if (msg.typing) s.typers.set(msg.cid, { name: msg.name, until: Date.now() + TYPING_SHOW_MS });
        else s.typers.delete(msg.cid);
        return renderTyping();
      case "rooms":
        return renderRooms(msg.rooms);
      case "pong":
        return pong(msg);
      case "notice":
        // What a route of your own can answer to show a line here (docs/quickstart.md).
        return system(String(msg.text), "notice");
      case "error":
        if (msg.code === "not_joined") {
          // The backend lost track of us (it restarted): join again, then send again what
          // it refused.
          s.resend = s.lastText;
          send({ action: "join", room: s.room, name: s.name });
          return;
        }
        return system(msg.message || "error", "error");
      default:
        return undefined;
    }
  }

  function welcome(msg) {
    const first = !s.everOnline;
    const reconnected = !s.online && s.everOnline;
    s.cid = msg.connectionId;
    s.room = msg.room;
    s.name = msg.name;
    s.online = true;
    s.everOnline = true;
    if (reconnected) {
      s.reconnects++;
      $("reconnects").textContent = String(s.reconnects);
    }
    s.attempt = 0;
    sessionStorage.setItem("chat.name", s.name);
    $("conn-id").textContent = s.cid;
    $("room-name").textContent = s.room;
    $("text").placeholder = `Message #${s.room}`;
    $("nick").value = s.name;
    document.title = `#${s.room} · Portico chat`;
    const q = new URLSearchParams(location.search);
    q.set("room", s.room);
    history.replaceState(null, "", `${location.pathname}?${q}`);
    // The last messages of the room replace what is shown: nothing is lost or doubled
    // across a reconnect.
    $("messages").replaceChildren();
    for (const m of msg.history || []) addMessage(m);
    system(first ? `You joined #${s.room} as ${s.name}` : reconnected ? `Reconnected to #${s.room}` :
      `You are in #${s.room} as ${s.name}`, "join");
    s.typers.clear();
    renderTyping();
    renderRooms(msg.rooms);
    renderMembers(msg.members);
    setState("online", "online");
    startPeriodic();
    if (s.resend) {
      send({ action: "sendmessage", text: s.resend });
      s.resend = null;
    }
  }

  function pong(msg) {
    if (typeof msg.t !== "number") return;
    const rtt = performance.now() - msg.t;
    s.rtts.push(rtt);
    if (s.rtts.length > 20) s.rtts.shift();
    const avg = s.rtts.reduce((a, b) => a + b, 0) / s.rtts.length;
    $("rtt").textContent = `${rtt.toFixed(1)} ms`;
    $("rtt-avg").textContent = `avg ${avg.toFixed(1)} ms`;
  }

  // ---- rendering (textContent only: nothing a peer sends is ever parsed as HTML) -------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function stickToBottom(list, fn) {
    const near = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    fn();
    if (near) list.scrollTop = list.scrollHeight;
  }

  function addMessage(m) {
    const list = $("messages");
    stickToBottom(list, () => {
      const li = el("li", "msg" + (m.cid === s.cid ? " mine" : ""));
      li.dataset.id = String(m.id);
      const head = el("div", "meta");
      head.append(el("span", "who", m.name));
      const t = new Date(m.ts);
      const time = el("time", "when", t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      time.dateTime = t.toISOString();
      head.append(time);
      li.append(head, el("div", "text", m.text));
      list.append(li);
    });
  }

  function system(text, kind) {
    const list = $("messages");
    stickToBottom(list, () => list.append(el("li", "system " + (kind || ""), text)));
  }

  function renderMembers(members) {
    s.members = members || [];
    const ul = $("members");
    ul.replaceChildren(...s.members.map((m) => {
      const li = el("li", m.cid === s.cid ? "me" : "", m.name);
      li.dataset.cid = m.cid;
      li.title = m.cid;
      return li;
    }));
    $("online-count").textContent = String(s.members.length);
    // Keep this room's count in the room list current between two "rooms" answers.
    const mine = s.rooms.find((r) => r.name === s.room);
    if (mine && mine.members !== s.members.length) {
      mine.members = s.members.length;
      renderRooms(s.rooms);
    }
  }

  function renderRooms(rooms) {
    if (!rooms) return;
    s.rooms = rooms;
    const ul = $("rooms");
    ul.replaceChildren(...rooms.map((r) => {
      const li = el("li", r.name === s.room ? "current" : "");
      const b = el("button", "room", "# " + r.name);
      b.type = "button";
      b.dataset.room = r.name;
      b.addEventListener("click", () => switchRoom(r.name));
      li.append(b, el("span", "count", String(r.members)));
      return li;
    }));
  }

  function renderTyping() {
    const now = Date.now();
    for (const [cid, t] of s.typers) if (t.until < now) s.typers.delete(cid);
    const names = [...s.typers.values()].map((t) => t.name);
    $("typing").textContent = names.length === 0 ? "" :
      names.length === 1 ? `${names[0]} is typing…` :
      names.length < 4 ? `${names.join(", ")} are typing…` : "several people are typing…";
  }
  setInterval(renderTyping, 1000);

  // ---- what the user does --------------------------------------------------------------------

  function switchRoom(name) {
    const r = roomName(name);
    if (!r) return;
    s.room = r;
    if (!send({ action: "join", room: r, name: s.name })) {
      $("room-name").textContent = r;
    }
  }

  function stopTyping() {
    clearTimeout(s.typingIdleTimer);
    s.typingIdleTimer = null;
    if (s.typingSentAt) {
      s.typingSentAt = 0;
      send({ action: "typing", typing: false });
    }
  }

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("text");
    const text = input.value.trim();
    if (!text || !s.online) return;
    // "/roll 20" sends {"action":"roll","text":"20"}: a way to try routes of your own.
    const cmd = /^\/([A-Za-z0-9_-]+)\s*([\s\S]*)$/.exec(text);
    if (cmd) {
      input.value = "";
      stopTyping();
      if (cmd[1] === "join") return switchRoom(cmd[2]);
      if (cmd[1] === "nick") {
        $("nick").value = cmd[2];
        return $("nick-form").requestSubmit();
      }
      send({ action: cmd[1], text: cmd[2] });
      return;
    }
    if (send({ action: "sendmessage", text })) {
      s.lastText = text;
      input.value = "";
      s.typingSentAt = 0; // the message itself ends "typing" for the others
      clearTimeout(s.typingIdleTimer);
    }
  });

  $("text").addEventListener("input", () => {
    if (!s.online) return;
    if (!$("text").value) return stopTyping();
    const now = Date.now();
    if (now - s.typingSentAt > TYPING_SEND_EVERY_MS) {
      s.typingSentAt = now;
      send({ action: "typing", typing: true });
    }
    clearTimeout(s.typingIdleTimer);
    s.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  });
  $("text").addEventListener("blur", stopTyping);

  $("room-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const r = roomName($("room-input").value);
    if (!r) return;
    $("room-input").value = "";
    switchRoom(r);
  });

  $("nick-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const n = nick($("nick").value);
    if (!n) return;
    s.name = n;
    sessionStorage.setItem("chat.name", n);
    send({ action: "join", room: s.room, name: n });
  });

  $("nick").value = s.name;
  $("room-name").textContent = s.room;
  connect();
})();
