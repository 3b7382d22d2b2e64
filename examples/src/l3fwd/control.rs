//! Run-time control of l3fwd: telemetry commands to list, add and delete routes and port
//! addresses while forwarding, and reloading the route file (on SIGHUP or a command).
//!
//! | command (on the engine's telemetry socket) | does |
//! |---|---|
//! | `/l3fwd/routes` | lists the LPM routes |
//! | `/l3fwd/route/add,PREFIX/LEN PORT [via GW]` | adds or replaces a route (route-file syntax) |
//! | `/l3fwd/route/del,PREFIX/LEN` | deletes a route |
//! | `/l3fwd/reload` | makes the routes those of `--route-file` again (also on SIGHUP) |
//! | `/l3fwd/addrs` | lists the port addresses (router mode) |
//! | `/l3fwd/addr/add,PORT,IP/LEN` | adds a port address |
//! | `/l3fwd/addr/del,PORT,IP/LEN` | deletes a port address |
//!
//! Every handler runs on the engine's control thread. Routes change through the LPM writer
//! (lock-free for the lcores, see [`super::lookup`]); addresses through the [`ConfigCell`] the
//! lcores pick up at their next burst or tick.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::cli::parse_addr;
use super::lookup::Tables;
use super::router::ConfigCell;
use super::routes::{self, Route};

/// The state the l3fwd commands work on.
#[derive(Debug)]
pub struct Control {
    tables: Tables,
    cell: Arc<ConfigCell>,
    route_file: Option<PathBuf>,
    nb_ports: u16,
}

/// The command names, in the order of [`Control::run`]'s dispatch.
pub const COMMANDS: [&str; 7] = [
    "/l3fwd/routes",
    "/l3fwd/route/add",
    "/l3fwd/route/del",
    "/l3fwd/reload",
    "/l3fwd/addrs",
    "/l3fwd/addr/add",
    "/l3fwd/addr/del",
];

fn route_json(r: &Route) -> Value {
    json!({
        "prefix": format!("{}/{}", r.prefix, r.len),
        "port": r.next_hop.port,
        "via": r.next_hop.via.map(|v| v.to_string()),
    })
}

impl Control {
    /// Control over `tables` (the writer side) and the router configuration in `cell`.
    pub fn new(
        tables: Tables,
        cell: Arc<ConfigCell>,
        route_file: Option<PathBuf>,
        nb_ports: u16,
    ) -> Self {
        Control {
            tables,
            cell,
            route_file,
            nb_ports,
        }
    }

    /// The tables.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Runs command `name` with `args`.
    pub fn run(&mut self, name: &str, args: &str) -> Result<Value, String> {
        match name {
            "/l3fwd/routes" => Ok(Value::Array(
                self.tables.routes().iter().map(route_json).collect(),
            )),
            "/l3fwd/route/add" => {
                let r = routes::parse_route(args).map_err(|e| format!("'{args}': {e}"))?;
                if r.next_hop.port >= self.nb_ports {
                    return Err(format!(
                        "'{args}': port {} does not exist ({} ports)",
                        r.next_hop.port, self.nb_ports
                    ));
                }
                let old = self.tables.add_route(&r).map_err(|e| e.to_string())?;
                log::info!("route added: {args}");
                Ok(json!({"added": route_json(&r), "replaced": old.is_some()}))
            }
            "/l3fwd/route/del" => {
                let (prefix, len) = routes::parse_prefix(args.trim())?;
                let nh = self
                    .tables
                    .delete_route(prefix, len)
                    .map_err(|e| e.to_string())?;
                log::info!("route deleted: {args}");
                Ok(json!({"deleted": route_json(&Route { prefix, len, next_hop: nh })}))
            }
            "/l3fwd/reload" => self.reload(),
            "/l3fwd/addrs" => Ok(self.addrs()),
            "/l3fwd/addr/add" | "/l3fwd/addr/del" => {
                let add = name.ends_with("add");
                let (port, ip, len) = parse_addr(args)?;
                if port >= self.nb_ports {
                    return Err(format!(
                        "'{args}': port {port} does not exist ({} ports)",
                        self.nb_ports
                    ));
                }
                self.cell.update(|cfg| {
                    if !cfg.router {
                        return Err("port addresses need --router".to_string());
                    }
                    let p = &mut cfg.ports[port as usize];
                    let changed = match (ip, add) {
                        (IpAddr::V4(a), true) => push_new(&mut p.v4, (a, len)),
                        (IpAddr::V6(a), true) => push_new(&mut p.v6, (a, len)),
                        (IpAddr::V4(a), false) => remove(&mut p.v4, (a, len)),
                        (IpAddr::V6(a), false) => remove(&mut p.v6, (a, len)),
                    };
                    if !changed {
                        return Err(format!(
                            "port {port} {} {ip}/{len}",
                            if add { "already has" } else { "has no address" }
                        ));
                    }
                    Ok(())
                })?;
                log::info!(
                    "port {port}: address {ip}/{len} {}",
                    if add { "added" } else { "deleted" }
                );
                Ok(self.addrs())
            }
            _ => Err(format!("unknown l3fwd command '{name}'")),
        }
    }

    /// Reloads `--route-file`: the routes become exactly the file's.
    pub fn reload(&mut self) -> Result<Value, String> {
        let Some(path) = &self.route_file else {
            return Err("no --route-file to reload".into());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let routes = routes::parse_routes(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(r) = routes.iter().find(|r| r.next_hop.port >= self.nb_ports) {
            return Err(format!(
                "{}: route {}/{} names port {} ({} ports); nothing changed",
                path.display(),
                r.prefix,
                r.len,
                r.next_hop.port,
                self.nb_ports
            ));
        }
        let (changed, deleted) = self
            .tables
            .replace_routes(&routes)
            .map_err(|e| e.to_string())?;
        log::info!(
            "reloaded {}: {} routes, {changed} added or changed, {deleted} deleted",
            path.display(),
            routes.len()
        );
        Ok(json!({"routes": routes.len(), "changed": changed, "deleted": deleted}))
    }

    fn addrs(&self) -> Value {
        let cfg = self.cell.get();
        Value::Array(
            cfg.ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let v4: Vec<String> = p.v4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
                    let v6: Vec<String> = p.v6.iter().map(|(a, l)| format!("{a}/{l}")).collect();
                    json!({"port": i, "mac": p.mac.to_string(), "v4": v4, "v6": v6})
                })
                .collect(),
        )
    }
}

fn push_new<T: PartialEq>(v: &mut Vec<T>, x: T) -> bool {
    if v.contains(&x) {
        return false;
    }
    v.push(x);
    true
}

fn remove<T: PartialEq>(v: &mut Vec<T>, x: T) -> bool {
    let before = v.len();
    v.retain(|y| *y != x);
    v.len() != before
}
