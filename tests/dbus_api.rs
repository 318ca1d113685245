//! The org.hbd1 service on a private dbus-daemon, driven by real cores.

#[path = "dbus_harness/mod.rs"]
mod harness;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use harness::{Bus, Cluster, TWO_NODES};
use hbd::dbus::client::{self, ClientError, Signal};
use hbd::dbus::{object_path_for, ObjectKind, BUS_NAME, MANAGER_PATH};
use zbus::zvariant::OwnedValue;

async fn call(
    conn: &zbus::Connection,
    method: &str,
    args: &(impl serde::Serialize + zbus::zvariant::DynamicType),
) -> Result<(), ClientError> {
    client::call_manager(conn, method, args).await
}

fn err_name(r: Result<(), ClientError>) -> String {
    match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.error_name().unwrap_or("?").to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_of_all_objects() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let conn = bus.connect().await;
    // Read until the bus answers what the loop published (ages move on).
    let st = client::fetch_status(&conn).await.unwrap();
    assert_eq!(st.cluster, "lab");
    assert_eq!(st.local, "n1");
    assert_eq!(st.generation, 1);
    assert!(st.quorate);
    let names: Vec<&str> = st.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1", "n-2"]);
    let n1 = &st.nodes[0];
    assert!(n1.local);
    assert_eq!(n1.state, "up");
    assert!(n1.links.is_empty());
    let n2 = &st.nodes[1];
    assert!(!n2.local);
    assert_eq!(n2.state, "up");
    assert_eq!(n2.links.len(), 2);
    assert_eq!((n2.links[0].0.as_str(), n2.links[0].1.as_str()), ("hb", "up"));
    assert!(n2.links[0].2 >= 0 && n2.links[0].2 < 2000, "{:?}", n2.links);
    assert_eq!((n2.links[1].0.as_str(), n2.links[1].1.as_str(), n2.links[1].2), ("lan", "down", -1));
    assert_eq!(n2.ping, Some(0));

    let web = st.groups.iter().find(|g| g.name == "web").unwrap();
    assert_eq!((web.owner.as_str(), web.state.as_str(), web.preferred.as_str()), ("n1", "started", "n1"));
    assert_eq!(
        web.resources,
        vec![
            ("vip".to_string(), "10.99.0.60/24".to_string(), "started".to_string()),
            ("unit".to_string(), "nginx.service".to_string(), "started".to_string()),
        ]
    );
    assert_eq!(web.failcount, 0);
    assert_eq!(web.note, "");
    let db = st.groups.iter().find(|g| g.name == "db-1").unwrap();
    assert_eq!((db.owner.as_str(), db.state.as_str()), ("n-2", "started"));

    // Paths are escaped systemd-style.
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            MANAGER_PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.hbd1.Manager", "Nodes"),
        )
        .await
        .unwrap();
    let v: OwnedValue = reply.body().deserialize().unwrap();
    let paths: Vec<zbus::zvariant::OwnedObjectPath> = v.try_into().unwrap();
    let paths: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["/org/hbd1/node/n1", "/org/hbd1/node/n_2d2"]);
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            "/org/hbd1/group/db_2d1",
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.hbd1.Group", "Name"),
        )
        .await
        .unwrap();
    let v: OwnedValue = reply.body().deserialize().unwrap();
    assert_eq!(String::try_from(v).unwrap(), "db-1");
}

/// Wait for a PropertiesChanged of `path` whose changed properties satisfy `f`.
async fn wait_changed(
    stream: &mut zbus::MessageStream,
    path: &str,
    f: impl Fn(&HashMap<String, OwnedValue>) -> bool,
    moved: &mut Vec<(String, String, String, String)>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no PropertiesChanged for {path}"))
            .unwrap()
            .unwrap();
        if let Some(Signal::GroupMoved { group, from, to, reason }) = client::decode_signal(&msg) {
            moved.push((group, from, to, reason));
            continue;
        }
        let h = msg.header();
        if h.member().map(|m| m.as_str()) != Some("PropertiesChanged") || h.path().map(|p| p.as_str()) != Some(path) {
            continue;
        }
        let (iface, changed, _inv): (String, HashMap<String, OwnedValue>, Vec<String>) =
            msg.body().deserialize().unwrap();
        assert!(iface.starts_with("org.hbd1."));
        if f(&changed) {
            return;
        }
    }
}

fn str_prop(m: &HashMap<String, OwnedValue>, k: &str) -> Option<String> {
    m.get(k).and_then(|v| String::try_from(v.try_clone().ok()?).ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_emits_properties_changed_and_group_moved() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let conn = bus.connect().await;
    let mut stream = client::signals(&conn).await.unwrap();
    call(&conn, "MoveGroup", &("web", "n-2")).await.unwrap();
    let web = object_path_for(ObjectKind::Group, "web");
    let mut moved = Vec::new();
    wait_changed(&mut stream, web.as_str(), |c| str_prop(c, "Owner").as_deref() == Some("n-2"), &mut moved).await;
    // The GroupMoved signal for this move (the one of web's first start
    // may come first: it can race with the subscription).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !moved.iter().any(|m| m.0 == "web" && m.2 == "n-2") {
        let msg = tokio::time::timeout_at(deadline, stream.next()).await.expect("no GroupMoved").unwrap().unwrap();
        if let Some(Signal::GroupMoved { group, from, to, reason }) = client::decode_signal(&msg) {
            moved.push((group, from, to, reason));
        }
    }
    let m = moved.iter().find(|m| m.0 == "web" && m.2 == "n-2").unwrap();
    assert_eq!((m.1.as_str(), m.2.as_str(), m.3.as_str()), ("n1", "n-2", "move"), "{moved:?}");
    let st = cl
        .wait_for("web started on n-2", |s| {
            s.groups.iter().any(|g| g.name == "web" && g.owner == "n-2" && g.state == "started")
        })
        .await;
    assert_eq!(st.groups[0].owner, "n-2");
    let on_bus = client::fetch_status(&conn).await.unwrap();
    assert_eq!(on_bus.groups[0].pinned, "n-2", "the move's pin is not on the bus: {:?}", on_bus.groups[0]);
    // ClearMove releases the pin: Pinned goes back to "".
    call(&conn, "ClearMove", &("web",)).await.unwrap();
    wait_changed(&mut stream, web.as_str(), |c| str_prop(c, "Pinned").as_deref() == Some(""), &mut moved).await;

    // Standby of the local node: the Node object's State and Standby follow.
    let n1 = object_path_for(ObjectKind::Node, "n1");
    call(&conn, "Standby", &("",)).await.unwrap();
    wait_changed(&mut stream, n1.as_str(), |c| str_prop(c, "State").as_deref() == Some("standby"), &mut moved).await;
    let on_bus = client::fetch_status(&conn).await.unwrap();
    assert!(on_bus.nodes.iter().any(|n| n.name == "n1" && n.standby), "{:?}", on_bus.nodes);
    call(&conn, "Unstandby", &("n1",)).await.unwrap();
    wait_changed(&mut stream, n1.as_str(), |c| str_prop(c, "State").as_deref() == Some("up"), &mut moved).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_and_error_names() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let conn = bus.connect().await;
    assert_eq!(err_name(call(&conn, "MoveGroup", &("nope", "n1")).await), "org.hbd1.Error.NotFound");
    assert_eq!(err_name(call(&conn, "MoveGroup", &("web", "n9")).await), "org.hbd1.Error.NotFound");
    assert_eq!(err_name(call(&conn, "Standby", &("n9",)).await), "org.hbd1.Error.NotFound");
    assert_eq!(err_name(call(&conn, "ClearFailures", &("nope",)).await), "org.hbd1.Error.NotFound");
    match call(&conn, "ClearFailures", &("nope",)).await {
        Err(ClientError::Api { message, .. }) => assert!(message.contains("\"nope\""), "{message}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(err_name(call(&conn, "ClearFailures", &("web",)).await), "ok");
    assert_eq!(err_name(call(&conn, "Takeover", &("",)).await), "ok");
    assert_eq!(err_name(call(&conn, "Reload", &()).await), "ok");
    // A wrong signature is refused by the bus layer, not the loop.
    let r = conn.call_method(Some(BUS_NAME), MANAGER_PATH, Some("org.hbd1.Manager"), "Standby", &(1u32,)).await;
    assert!(r.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_when_the_loop_does_not_answer() {
    let bus = Bus::start();
    let cfg = hbd::config::parse(TWO_NODES, Path::new("t.toml")).unwrap();
    let node = hbd::core::Node::new(cfg, "n1", 1, Duration::ZERO).unwrap();
    let (_status_tx, status) = tokio::sync::watch::channel(hbd::dbus::status_text::worded(&node.status()));
    let (requests, _held) = tokio::sync::mpsc::channel(4);
    let (events, _) = tokio::sync::broadcast::channel(4);
    let conn = bus.connect().await;
    hbd::dbus::serve(&conn, hbd::dbus::ApiHandle { status, requests, events }).await.unwrap();
    let client = bus.connect().await;
    let t = std::time::Instant::now();
    assert_eq!(err_name(call(&client, "Standby", &("",)).await), "org.hbd1.Error.Busy");
    assert!(t.elapsed() >= Duration::from_secs(4));
    // A second hbd cannot take the name.
    let conn2 = bus.connect().await;
    let (requests, _h2) = tokio::sync::mpsc::channel(4);
    let (events, _) = tokio::sync::broadcast::channel(4);
    let (_s2, status) = tokio::sync::watch::channel(hbd::dbus::Status {
        cluster: "x".into(),
        local: "n1".into(),
        generation: 1,
        quorate: true,
        nodes: vec![],
        groups: vec![],
    });
    let r = hbd::dbus::serve(&conn2, hbd::dbus::ApiHandle { status, requests, events }).await;
    assert!(matches!(r, Err(hbd::dbus::DbusError::NameTaken)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_follow_the_set_of_names() {
    use hbd::dbus::{GroupStatus, NodeStatus, Status};
    let node = |name: &str| NodeStatus {
        name: name.into(),
        state: "up".into(),
        local: name == "a",
        generation: 1,
        links: vec![],
        ping: None,
        checks: vec![],
        standby: false,
    };
    let group = |name: &str| GroupStatus {
        name: name.into(),
        owner: String::new(),
        state: "stopped".into(),
        preferred: "a".into(),
        resources: vec![],
        failcount: 0,
        note: String::new(),
        checks: vec![],
        pinned: String::new(),
    };
    let s0 = Status {
        cluster: "c".into(),
        local: "a".into(),
        generation: 3,
        quorate: true,
        nodes: vec![node("a"), node("b")],
        groups: vec![group("g1")],
    };
    let bus = Bus::start();
    let (tx, status) = tokio::sync::watch::channel(s0.clone());
    let (requests, _r) = tokio::sync::mpsc::channel(4);
    let (events, _) = tokio::sync::broadcast::channel(4);
    let conn = bus.connect().await;
    hbd::dbus::serve(&conn, hbd::dbus::ApiHandle { status, requests, events: events.clone() }).await.unwrap();
    let client = bus.connect().await;
    let mut stream = client::signals(&client).await.unwrap();
    assert_eq!(client::fetch_status(&client).await.unwrap().groups.len(), 1);

    // A reload drops node b and group g1, adds node c and group g2.
    let mut s1 = s0.clone();
    s1.nodes = vec![node("a"), node("c")];
    s1.groups = vec![group("g2")];
    tx.send(s1).unwrap();
    let mut moved = Vec::new();
    wait_changed(&mut stream, MANAGER_PATH, |c| c.contains_key("Nodes") && c.contains_key("Groups"), &mut moved).await;
    let st = client::fetch_status(&client).await.unwrap();
    assert_eq!(st.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["a", "c"]);
    assert_eq!(st.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["g2"]);
    let gone = client
        .call_method(
            Some(BUS_NAME),
            "/org/hbd1/group/g1",
            Some("org.freedesktop.DBus.Properties"),
            "GetAll",
            &("org.hbd1.Group",),
        )
        .await;
    assert!(gone.is_err());

    // Events become GroupMoved signals.
    events
        .send(hbd::dbus::ApiEvent::GroupMoved {
            group: "g2".into(),
            from: "".into(),
            to: "a".into(),
            reason: "start".into(),
        })
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let msg = tokio::time::timeout_at(deadline, stream.next()).await.expect("GroupMoved").unwrap().unwrap();
        if let Some(Signal::GroupMoved { group, from, to, reason }) = client::decode_signal(&msg) {
            assert_eq!((group.as_str(), from.as_str(), to.as_str(), reason.as_str()), ("g2", "", "a", "start"));
            break;
        }
    }
}

/// `<interface name="NAME">…</interface>` out of an introspection document,
/// each line trimmed.
fn interface_xml(doc: &str, name: &str) -> String {
    let start = doc.find(&format!("<interface name=\"{name}\">")).unwrap_or_else(|| panic!("no {name} in {doc}"));
    let end = start + doc[start..].find("</interface>").unwrap() + "</interface>".len();
    doc[start..end].lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_equals_the_shipped_xml() {
    let bus = Bus::start();
    let mut cl = Cluster::start(&bus, TWO_NODES).await;
    cl.settled().await;
    let conn = bus.connect().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbus-interfaces");
    for (path, name) in [
        (MANAGER_PATH.to_string(), "org.hbd1.Manager"),
        (object_path_for(ObjectKind::Node, "n-2").to_string(), "org.hbd1.Node"),
        (object_path_for(ObjectKind::Group, "web").to_string(), "org.hbd1.Group"),
    ] {
        let reply = conn
            .call_method(Some(BUS_NAME), path.as_str(), Some("org.freedesktop.DBus.Introspectable"), "Introspect", &())
            .await
            .unwrap();
        let live: String = reply.body().deserialize().unwrap();
        let live = interface_xml(&live, name);
        let file = dir.join(format!("{name}.xml"));
        if std::env::var_os("HBD_BLESS").is_some() {
            let indented: String = live
                .lines()
                .map(|l| {
                    let depth = if l.starts_with("<interface") || l.starts_with("</interface") {
                        1
                    } else if l.starts_with("<method")
                        || l.starts_with("</method")
                        || l.starts_with("<signal")
                        || l.starts_with("</signal")
                        || l.starts_with("<property")
                        || l.starts_with("</property")
                        || (l.starts_with("<!--") && !l.contains("</"))
                    {
                        2
                    } else {
                        3
                    };
                    format!("{}{l}\n", "  ".repeat(depth))
                })
                .collect();
            std::fs::write(
                &file,
                format!(
                    "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>\n{indented}</node>\n"
                ),
            )
            .unwrap();
        }
        let shipped = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(interface_xml(&shipped, name), live, "{} differs from the live service", file.display());
    }
}
