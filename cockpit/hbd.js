/* hbd's Cockpit page.
 *
 * Everything comes from hbd's own D-Bus API (org.hbd1 on the system bus),
 * through Cockpit's bridge, which runs as the logged-in user: reading is
 * open to everyone, and hbd (with the bus policy) decides who may change
 * the cluster (root or group haclient).  The page follows PropertiesChanged
 * and GroupMoved; it never polls.  The events come from hbd's journal
 * (journalctl -f, its HBD_EVENT entries) where the user may read it, and
 * from GroupMoved signals in any case.
 *
 * Plain JavaScript on Cockpit's own cockpit.js (../base1/cockpit.js): no
 * build step, nothing fetched at install time.
 */
"use strict";

(function () {
    const BUS_NAME = "org.hbd1";
    const MANAGER_PATH = "/org/hbd1";
    const ADMIN_GROUP = "haclient";
    const MAX_EVENTS = 30;

    const $ = id => document.getElementById(id);

    /* ------------------------------------------------------------ theme */
    // As Cockpit's own pages do: the shell's "shell:style" (auto, light,
    // dark) and the browser's preference decide; class pf-theme-dark on <html>.
    function applyTheme(style) {
        style = style || localStorage.getItem("shell:style") || "auto";
        const dark = style === "dark" ||
            (style === "auto" && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
        document.documentElement.classList.toggle("pf-theme-dark", !!dark);
    }
    applyTheme();
    window.addEventListener("storage", ev => { if (ev.key === "shell:style") applyTheme() });
    window.addEventListener("cockpit-style", ev => applyTheme(ev.detail && ev.detail.style));
    if (window.matchMedia)
        window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => applyTheme());

    /* ------------------------------------------------------------ helpers */
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === undefined || v === null || v === false) continue;
            if (k === "class") e.className = v;
            else if (k === "text") e.textContent = v;
            else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
            else e.setAttribute(k, v === true ? "" : v);
        }
        for (const c of children.flat()) {
            if (c === null || c === undefined || c === false) continue;
            e.append(typeof c === "string" ? document.createTextNode(c) : c);
        }
        return e;
    }

    // The look of a state: ok (green), bad (red), warn (yellow), plain.
    function stateClass(s) {
        // (a unit's state is systemd's own: "active (running)", "failed (exit-code)", …)
        s = String(s || "").split(" ")[0];
        switch (s) {
        case "up": case "started": case "active": case "healthy": case "ok":
            return "ok";
        case "dead": case "failed": case "blocked": case "down": case "sick":
            return "bad";
        case "standby": case "starting": case "stopping": case "activating": case "deactivating":
        case "leaving": case "rising": case "unknown": case "claiming":
            return "warn";
        default:
            return "";
        }
    }
    const label = (text, test) => el("span", { class: "hb-label " + stateClass(text), "data-test": test, text });

    function age(ms) {
        if (ms < 0) return "never";
        if (ms < 1000) return "0." + Math.floor(ms / 100) + " s ago";
        if (ms < 60000) return (ms / 1000).toFixed(1) + " s ago";
        if (ms < 3600000) return Math.floor(ms / 60000) + " min ago";
        return Math.floor(ms / 3600000) + " h ago";
    }

    function errorText(ex) {
        // hbd's own error: its D-Bus name and message, as hbd wrote them.
        if (!ex) return "unknown error";
        const msg = ex.message || cockpit.message(ex);
        return ex.name ? msg + " (" + ex.name + ")" : msg;
    }

    /* ------------------------------------------------------------ state */
    const state = {
        user: null,            // cockpit.user(): name, id, groups
        superuser: false,      // Cockpit's administrative access is on
        connected: false,      // org.hbd1 has an owner
        manager: null,
        nodes: new Map(),      // path -> proxy
        groups: new Map(),     // path -> proxy
        linkSeen: new Map(),   // node path -> Date.now() when Links arrived
        events: [],            // {t, kind, text, key}
        journalReadable: null, // null: not known yet
        busy: false,
    };

    let client = null; // the channel to org.hbd1 (see connect)

    function mayChange() {
        if (!state.user) return false;
        if (state.user.id === 0 || state.superuser) return true;
        return (state.user.groups || []).includes(ADMIN_GROUP);
    }

    /* ------------------------------------------------------------ render */
    let renderQueued = false;
    function render() {
        if (renderQueued) return;
        renderQueued = true;
        window.requestAnimationFrame(() => { renderQueued = false; renderNow() });
    }

    // Make the DOM under `a` look like `b`, changing only what differs: a
    // button under the pointer stays the same element while the data around
    // it changes (a click is never lost to a re-render), and a choice made
    // in a <select> is kept.  Clicks are handled by delegation (data-action).
    function morph(a, b) {
        if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) {
            a.replaceWith(b);
            return;
        }
        if (a.nodeType === Node.TEXT_NODE) {
            if (a.nodeValue !== b.nodeValue) a.nodeValue = b.nodeValue;
            return;
        }
        for (const at of [...a.attributes])
            if (!b.hasAttribute(at.name)) a.removeAttribute(at.name);
        for (const at of [...b.attributes])
            if (a.getAttribute(at.name) !== at.value) a.setAttribute(at.name, at.value);
        const ac = [...a.childNodes];
        const bc = [...b.childNodes];
        bc.forEach((c, i) => { if (i < ac.length) morph(ac[i], c); else a.append(c) });
        for (let i = bc.length; i < ac.length; i++) ac[i].remove();
    }
    function update(container, ...children) {
        const fresh = container.cloneNode(false);
        fresh.append(...children.flat().filter(c => c));
        morph(container, fresh);
    }

    function renderNow() {
        const m = state.manager;
        const up = state.connected && m && m.valid;
        $("app").setAttribute("aria-busy", "false");
        $("down").hidden = up;
        if (!up) {
            $("down").textContent = "hbd is not running on this machine (nothing owns " + BUS_NAME +
                " on the system bus): systemctl status hbd";
        }
        $("title").textContent = up && m.ClusterName ? "HA cluster " + m.ClusterName : "HA cluster";
        const q = $("quorum");
        if (up) {
            q.textContent = m.Quorate ? "quorate" : "no quorum";
            q.className = "hb-label " + (m.Quorate ? "ok" : "bad");
        } else {
            q.textContent = "";
        }
        $("subtitle").textContent = up
            ? "as node " + m.LocalNode + " sees it · generation " + m.Generation + " · hbd " + (m.Version || "")
            : "";

        const ro = $("readonly");
        if (state.user && !mayChange()) {
            ro.hidden = false;
            ro.textContent = "Read-only: " + state.user.name + " is not root and not in group " + ADMIN_GROUP +
                ", so hbd refuses changes from this session. (Add the user with: adduser " + state.user.name +
                " " + ADMIN_GROUP + "; then log in again.)";
        } else {
            ro.hidden = true;
        }

        const disabled = !up || !mayChange() || state.busy;
        $("reload").disabled = disabled;
        renderNodes(up, disabled);
        renderGroups(up, disabled);
        renderEvents();
    }

    function sortedProxies(map, order) {
        const byPath = new Map([...map.entries()].filter(([, p]) => p.valid));
        const paths = (order || []).filter(p => byPath.has(p));
        return paths.map(p => [p, byPath.get(p)]);
    }

    function renderNodes(up, disabled) {
        const tbody = $("nodes").tBodies[0];
        const rows = [];
        const now = Date.now();
        for (const [path, n] of up ? sortedProxies(state.nodes, state.manager.Nodes) : []) {
            const seen = state.linkSeen.get(path) || now;
            const links = (n.Links || []).map(([link, st, ms]) =>
                el("li", { "data-test": "link", "data-link": link },
                   el("span", { class: "hb-mono" }, link), " ", label(st, "link-state"), " ",
                   el("span", { class: "hb-muted", "data-test": "link-age" }, age(ms < 0 ? ms : ms + (now - seen)))));
            const checks = (n.Checks || []).map(([name, probe, st, , , , err]) =>
                el("li", { title: probe + (err ? ": " + err : "") }, name, " ", label(st, "check-state")));
            // Standby (hbd ≥ 0.2) holds while the node is dead or leaving too.
            const standby = n.Standby !== undefined ? n.Standby : n.State === "standby";
            const action = el("button", {
                type: "button", class: "hb-btn hb-btn-secondary hb-btn-sm", disabled,
                "data-test": standby ? "unstandby" : "standby",
                "data-action": standby ? "unstandby" : "standby", "data-node": n.Name,
            }, standby ? "Unstandby" : "Standby");
            rows.push(el("tr", { "data-node": n.Name, "data-test": "node" },
                el("td", { "data-label": "Node" }, el("span", {},
                    el("strong", { "data-test": "node-name" }, n.Name), n.Local ? el("span", { class: "hb-local" }, "(this node)") : null)),
                el("td", { "data-label": "State" }, label(n.State, "node-state")),
                el("td", { "data-label": "Generation", "data-test": "node-generation" }, String(n.Generation)),
                el("td", { "data-label": "Links" }, n.Local
                    ? el("span", { class: "hb-muted" }, "—")
                    : el("ul", { class: "hb-links" }, links.length ? links : el("li", { class: "hb-muted" }, "none"))),
                el("td", { "data-label": "Ping hosts" }, String(n.PingHosts)),
                el("td", { "data-label": "Checks" }, checks.length ? el("ul", { class: "hb-links" }, checks) : el("span", { class: "hb-muted" }, "—")),
                el("td", { class: "hb-actions-col" }, action)));
        }
        update(tbody, rows);
    }

    function renderGroups(up, disabled) {
        const box = $("groups");
        const cards = [];
        if (!up) return update(box);
        const nodeNames = sortedProxies(state.nodes, state.manager.Nodes).map(([, n]) => n.Name);
        const groups = sortedProxies(state.groups, state.manager.Groups);
        if (!groups.length) cards.push(el("p", { class: "hb-muted" }, "No resource group is configured."));
        for (const [, g] of groups) {
            const checks = new Map();
            for (const [res, probe, st, passes, fails, ms, err] of g.Checks || [])
                checks.set(res, { probe, st, passes, fails, ms, err });
            const rows = (g.Resources || []).map(([kind, name, st]) => {
                const c = checks.get(name);
                return el("tr", { "data-test": "resource", "data-resource": name },
                    el("td", { class: "hb-muted" }, kind),
                    el("td", { class: "hb-mono" }, name),
                    el("td", {}, c ? el("span", { title: c.probe + (c.err ? ": " + c.err : ""), "data-test": "resource-check" },
                        "check ", label(c.st, "check-state")) : null),
                    el("td", {}, label(st, "resource-state")));
            });
            // (the default choice: a node other than the owner; a choice the
            // user made stays, see morph)
            const other = nodeNames.find(n => n !== g.Owner);
            const select = el("select", { class: "hb-select", disabled, "data-group": g.Name, "data-test": "move-target", "aria-label": "Move " + g.Name + " to" },
                nodeNames.map(n => el("option", { value: n, selected: n === other }, n)));
            // Pinned (hbd ≥ 0.2): only a pinned group has a move to clear.
            const pinned = g.Pinned !== undefined ? g.Pinned : null;
            const btn = (cls, action, text, off) => el("button", {
                type: "button", class: "hb-btn hb-btn-sm " + cls, disabled: disabled || !!off,
                "data-test": action, "data-action": action, "data-group": g.Name }, text);
            cards.push(el("article", { class: "hb-group", "data-group": g.Name, "data-test": "group" },
                el("div", { class: "hb-group-head" },
                    el("h3", { class: "hb-group-name" }, g.Name),
                    label(g.State, "group-state")),
                el("dl", { class: "hb-dl" },
                    el("dt", {}, "Owner"), el("dd", { class: "hb-owner", "data-test": "owner" }, g.Owner || "none"),
                    el("dt", {}, "Preferred"), el("dd", { "data-test": "preferred" }, g.Preferred || "—"),
                    el("dt", {}, "Fail count"), el("dd", { "data-test": "failcount" }, String(g.FailCount)),
                    pinned ? el("dt", {}, "Pinned to") : null,
                    pinned ? el("dd", { "data-test": "pinned" }, pinned) : null),
                g.Note ? el("div", { class: "hb-note", "data-test": "note" }, g.Note) : null,
                rows.length ? el("table", { class: "hb-resources" }, el("tbody", {}, rows)) : null,
                el("div", { class: "hb-btn-row" },
                    select,
                    btn("hb-btn-secondary", "move", "Move"),
                    btn("hb-btn-link", "clear-move", "Clear move", pinned === ""),
                    btn("hb-btn-link", "cleanup", "Cleanup"))));
        }
        update(box, cards);
    }

    function renderEvents() {
        update($("events"), state.events.slice(0, MAX_EVENTS).map(e =>
            el("li", { "data-test": "event", "data-kind": e.kind },
                el("time", { datetime: new Date(e.t).toISOString(), title: new Date(e.t).toLocaleString() },
                    new Date(e.t).toLocaleTimeString()),
                el("span", { class: "hb-kind" }, e.kind),
                el("span", { class: "hb-msg" }, e.text))));
        const note = $("events-note");
        if (state.journalReadable === false) {
            note.hidden = false;
            note.textContent = "No entry of hbd's journal is readable for " + (state.user ? state.user.name : "this user") +
                " (groups adm or systemd-journal may read it): showing what hbd signalled on the bus since this page was opened.";
        } else {
            note.hidden = true;
        }
    }

    /* ------------------------------------------------------------ events */
    function addEvent(e) {
        // What the bus tells (moves, node states) counts where the journal,
        // which tells all of it and more, is not readable.
        if (e.bus && state.journalReadable === true) return;
        // A move seen both in the journal and as a signal is shown once.
        if (e.key && state.events.some(x => x.key === e.key && Math.abs(x.t - e.t) < 5000)) return;
        state.events.push(e);
        state.events.sort((a, b) => b.t - a.t);
        state.events.length = Math.min(state.events.length, 200);
        render();
    }

    function followJournal() {
        let buf = "";
        let sawEntry = false;
        const proc = cockpit.spawn(["journalctl", "--unit=hbd.service", "--output=json", "--lines=500", "--follow",
                                    "--no-pager"],
                                   { superuser: "try", err: "out" });
        proc.stream(data => {
            buf += data;
            let nl;
            while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (!line.startsWith("{")) {
                    if (/not seeing messages|insufficient permissions|No journal files/i.test(line)) {
                        state.journalReadable = false;
                        render();
                    }
                    continue;
                }
                let j;
                try { j = JSON.parse(line) } catch (ex) { continue }
                if (!sawEntry) {
                    sawEntry = true;
                    state.journalReadable = true;
                    render();
                }
                if (!j.HBD_EVENT) continue;
                const t = Math.floor(Number(j.__REALTIME_TIMESTAMP) / 1000);
                const kind = String(j.HBD_EVENT);
                addEvent({ t, kind, text: String(j.MESSAGE || ""), key: j.HBD_GROUP ? "move:" + j.HBD_GROUP + ":" + kind : null });
            }
        });
        // journalctl prints its backlog at once: none means that this user
        // may read none of hbd's entries (only their own journal, if any).
        window.setTimeout(() => {
            if (!sawEntry) {
                state.journalReadable = false;
                render();
            }
        }, 3000);
        proc.catch(ex => {
            state.journalReadable = false;
            console.warn("journalctl:", ex);
            render();
        });
    }

    /* ------------------------------------------------------------ bus */
    function follow(map, iface, paths) {
        const want = new Set(paths || []);
        for (const [path, p] of map) {
            if (!want.has(path)) {
                p.removeEventListener("changed", onChanged);
                map.delete(path);
            }
        }
        for (const path of want) {
            if (map.has(path)) continue;
            const p = client.proxy(iface, path);
            p.addEventListener("changed", onChanged);
            map.set(path, p);
            p.wait(() => {
                if (iface === "org.hbd1.Node") {
                    state.linkSeen.set(path, Date.now());
                    if (p.valid) lastNodeState.set(path, p.State);
                }
                render();
            });
        }
    }

    const lastNodeState = new Map(); // node path -> the State shown last
    function onChanged(ev, data) {
        if (data && "Links" in data) state.linkSeen.set(this.path, Date.now());
        if (data && "State" in data && this.iface === "org.hbd1.Node") {
            const before = lastNodeState.get(this.path);
            if (before && before !== data.State) {
                addEvent({ t: Date.now(), kind: "node " + data.State,
                           text: this.Name + ": " + before + " → " + data.State, key: "node:" + this.Name + ":" + data.State, bus: true });
            }
        }
        if (this.iface === "org.hbd1.Node" && this.valid) lastNodeState.set(this.path, this.State);
        render();
    }

    let syncManager = null;
    function watchManager() {
        if (state.manager && syncManager) state.manager.removeEventListener("changed", syncManager);
        for (const map of [state.nodes, state.groups]) {
            for (const p of map.values()) p.removeEventListener("changed", onChanged);
            map.clear();
        }
        state.manager = client.proxy("org.hbd1.Manager", MANAGER_PATH);
        const sync = syncManager = () => {
            const m = state.manager;
            if (m.valid) {
                follow(state.nodes, "org.hbd1.Node", m.Nodes);
                follow(state.groups, "org.hbd1.Group", m.Groups);
            }
            render();
        };
        state.manager.addEventListener("changed", sync);
        state.manager.wait(sync);
    }

    // A channel of its own to org.hbd1.  When hbd comes back after it was
    // gone (restarted), the page starts over on a fresh channel: the bridge's
    // cache holds the old objects' last values, and a new hbd signals no
    // change for values it starts with.
    function connect() {
        const c = cockpit.dbus(BUS_NAME, { bus: "system", superuser: "try" });
        let hadOwner = false;
        let replaced = false;
        client = c;
        c.addEventListener("owner", (ev, owner) => {
            const was = state.connected;
            if (owner && !was && hadOwner) {
                replaced = true;
                c.close();
                connect();
                return;
            }
            state.connected = !!owner;
            if (owner) hadOwner = true;
            render();
        });
        c.addEventListener("close", (ev, options) => {
            if (replaced) return;
            state.connected = false;
            $("down").hidden = false;
            $("down").textContent = "Lost the connection to the system bus: " + cockpit.message(options);
        });
        c.subscribe({ interface: "org.hbd1.Manager", member: "GroupMoved", path: MANAGER_PATH },
                    (path, iface, signal, args) => {
                        const [group, from, to, reason] = args;
                        addEvent({
                            t: Date.now(),
                            kind: reason,
                            text: group + ": " + (from || "nowhere") + " → " + (to || "nowhere") + " (" + reason + ")",
                            key: "move:" + group + ":" + reason,
                            bus: true,
                        });
                    });
        watchManager();
    }

    /* ------------------------------------------------------------ actions */
    let pending = null;

    function confirm(title, body, action, call) {
        if (!mayChange()) return;
        pending = call;
        $("modal-title").textContent = title;
        $("modal-body").replaceChildren(...[].concat(body).map(p => typeof p === "string" ? el("p", {}, p) : p));
        $("modal-error").hidden = true;
        const ok = $("modal-confirm");
        ok.textContent = action;
        ok.disabled = false;
        $("modal-cancel").disabled = false;
        $("modal").hidden = false;
        ok.focus();
    }

    function closeModal() {
        $("modal").hidden = true;
        pending = null;
    }

    $("modal-cancel").addEventListener("click", closeModal);
    $("modal").addEventListener("keydown", ev => { if (ev.key === "Escape") closeModal() });
    $("modal-confirm").addEventListener("click", () => {
        if (!pending) return;
        const ok = $("modal-confirm");
        ok.disabled = true;
        ok.append(el("span", { class: "hb-spinner", "aria-hidden": "true" }));
        state.busy = true;
        render();
        pending()
                .then(() => closeModal())
                .catch(ex => {
                    const err = $("modal-error");
                    err.hidden = false;
                    err.textContent = errorText(ex);
                    ok.textContent = ok.textContent; // drops the spinner
                    ok.disabled = false;
                })
                .finally(() => { state.busy = false; render() });
    });
    document.addEventListener("click", ev => {
        const b = ev.target.closest && ev.target.closest("button[data-action]");
        if (!b || b.disabled) return;
        const node = b.dataset.node;
        const group = b.dataset.group;
        switch (b.dataset.action) {
        case "standby": return confirmStandby(node);
        case "unstandby": return confirmUnstandby(node);
        case "move": {
            const sel = document.querySelector("select[data-group=\"" + CSS.escape(group) + "\"]");
            return sel && confirmMove(group, sel.value);
        }
        case "clear-move": return confirmClearMove(group);
        case "cleanup": return confirmCleanup(group);
        }
    });
    $("error-close").addEventListener("click", () => { $("error").hidden = true });

    const call = (method, args) => () => client.call(MANAGER_PATH, "org.hbd1.Manager", method, args, { timeout: 15000 });

    function confirmStandby(node) {
        confirm("Put " + node + " in standby?",
                node + " gives up every group it runs (they move to other nodes) and takes none until you end its standby.",
                "Standby", call("Standby", [node]));
    }
    function confirmUnstandby(node) {
        confirm("End the standby of " + node + "?",
                node + " may run groups again (with auto_failback it takes back the groups it prefers).",
                "Unstandby", call("Unstandby", [node]));
    }
    function confirmMove(group, node) {
        confirm("Move " + group + " to " + node + "?",
                [group + " stops where it runs and starts on " + node + ".",
                    "It stays pinned there until you clear the move."],
                "Move", call("MoveGroup", [group, node]));
    }
    function confirmClearMove(group) {
        confirm("Clear the move of " + group + "?",
                group + " follows its preferred node and auto_failback again (it may move now).",
                "Clear move", call("ClearMove", [group]));
    }
    function confirmCleanup(group) {
        confirm("Clean up " + group + "?",
                "hbd forgets the failures of " + group + " (fail counts, failed nodes, a blocked stop) so that it may run again. " +
                "Only do this for a blocked group once you have made sure its units are stopped where the stop failed.",
                "Cleanup", call("ClearFailures", [group]));
    }
    $("reload").addEventListener("click", () =>
        confirm("Reload the configuration?",
                "hbd re-reads /etc/hbd/hbd.toml on this node; a bad file is refused and the running configuration kept.",
                "Reload", call("Reload", [])));

    /* ------------------------------------------------------------ start */
    // The ages of the links tick between the (at most one a second) updates.
    window.setInterval(() => { if (!document.hidden && state.nodes.size) render() }, 1000);

    cockpit.user().then(u => { state.user = u; render() });
    const su = cockpit.dbus(null, { bus: "internal" }).proxy("cockpit.Superuser", "/superuser");
    su.addEventListener("changed", () => { state.superuser = su.Current === "root"; render() });
    su.wait(() => { state.superuser = su.valid && su.Current === "root"; render() });

    connect();
    followJournal();
    render();
})();
