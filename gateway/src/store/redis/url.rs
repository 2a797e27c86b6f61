//! The `--store` URL: which Redis, how to reach it, and how to name it in logs without its
//! password.

use std::fmt;

/// Where the Redis backend connects.
#[derive(Clone)]
pub(crate) enum Target {
    /// One node: `redis://[user:pass@]host:port/db` or `rediss://…` (TLS).
    Single {
        /// The URL as the redis crate takes it (credentials included).
        url: String,
    },
    /// A cluster: `redis+cluster://[user:pass@]h1:p1,h2:p2` or `rediss+cluster://…`.
    Cluster {
        /// One node URL per seed (credentials included).
        seeds: Vec<String>,
    },
}

impl Target {
    /// Parses a store URL; `None` when it is not a Redis URL at all.
    pub(crate) fn parse(store: &str) -> Option<anyhow::Result<Self>> {
        let (scheme, rest) = store.split_once("://")?;
        let parsed = match scheme {
            "redis" | "rediss" => Ok(Self::Single {
                url: store.to_owned(),
            }),
            "redis+cluster" => Self::cluster("redis", rest),
            "rediss+cluster" => Self::cluster("rediss", rest),
            _ => return None,
        };
        Some(parsed)
    }

    fn cluster(scheme: &str, rest: &str) -> anyhow::Result<Self> {
        let (authority, tail) = match rest.find(['/', '?', '#']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
        let db = tail[..path_end].trim_matches('/');
        anyhow::ensure!(
            db.is_empty() || db == "0",
            "a Redis Cluster has only database 0; drop `/{db}` from the store URL"
        );
        let seeds: Vec<String> = hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| match userinfo {
                Some(userinfo) => format!("{scheme}://{userinfo}@{host}{}", &tail[path_end..]),
                None => format!("{scheme}://{host}{}", &tail[path_end..]),
            })
            .collect();
        anyhow::ensure!(
            !seeds.is_empty(),
            "a redis+cluster:// store URL names at least one node: redis+cluster://H1:P1,H2:P2"
        );
        Ok(Self::Cluster { seeds })
    }

    /// The hosts, for logs and errors: never the credentials.
    pub(crate) fn hosts(&self) -> String {
        match self {
            Self::Single { url } => host_of(url),
            Self::Cluster { seeds } => seeds
                .iter()
                .map(|seed| host_of(seed))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Single { .. } => write!(f, "Single({})", self.hosts()),
            Self::Cluster { .. } => write!(f, "Cluster({})", self.hosts()),
        }
    }
}

/// `host:port` of a node URL, without scheme, credentials, path or query.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_urls_pass_through() {
        let Some(Ok(Target::Single { url })) = Target::parse("redis://:pw@h:6380/2") else {
            panic!("a single-node URL")
        };
        assert_eq!(url, "redis://:pw@h:6380/2");
        assert!(matches!(
            Target::parse("rediss://h:6380"),
            Some(Ok(Target::Single { .. }))
        ));
    }

    #[test]
    fn cluster_urls_become_one_url_per_seed() {
        let Some(Ok(Target::Cluster { seeds })) =
            Target::parse("redis+cluster://u:pw@a:7000,b:7001/?protocol=3")
        else {
            panic!("a cluster URL")
        };
        assert_eq!(
            seeds,
            [
                "redis://u:pw@a:7000?protocol=3",
                "redis://u:pw@b:7001?protocol=3"
            ]
        );
        let Some(Ok(Target::Cluster { seeds })) = Target::parse("rediss+cluster://a:1,b:2") else {
            panic!("a TLS cluster URL")
        };
        assert_eq!(seeds, ["rediss://a:1", "rediss://b:2"]);
    }

    #[test]
    fn bad_urls_are_refused_or_not_ours() {
        assert!(Target::parse("memory").is_none());
        assert!(Target::parse("postgres://h").is_none());
        assert!(Target::parse("redis+cluster://a:1/3").unwrap().is_err());
        assert!(Target::parse("redis+cluster://").unwrap().is_err());
    }

    #[test]
    fn logs_show_hosts_never_passwords() {
        let target = Target::parse("redis://user:secret@h:1/0").unwrap().unwrap();
        assert_eq!(target.hosts(), "h:1");
        let target = Target::parse("redis+cluster://:secret@a:1,b:2")
            .unwrap()
            .unwrap();
        assert_eq!(target.hosts(), "a:1,b:2");
        assert!(!format!("{target:?}").contains("secret"));
    }
}
