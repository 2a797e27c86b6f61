//! The test kit of the sealgate workspace: what every test suite shares. Dev-only: it is a
//! dev-dependency of the gateway and the SDK, never a dependency of anything shipped, and it is
//! never published.
//!
//! - [`http`]: a hyper client over real sockets and its buffered [`Reply`];
//! - [`wait`]: [`eventually`], [`within`] and [`now_secs`], with timeouts for a slow, shared
//!   2-core CI machine;
//! - [`gateway`] and [`api`]: a gateway on free loopback ports (port 0) on the memory store or
//!   any other, and its API as a test drives it (register, open, deposit, poll);
//! - [`problem`]: the RFC 9457 problem+json assertions;
//! - [`redis`] and [`redis_server`]: key prefixes on the machine's shared Redis, deleted at the
//!   end, and private `redis-server` processes and clusters on free loopback ports;
//! - [`records`]: client and mailbox records for tests that drive a store directly;
//! - [`clock`]: a clock a test can move forward;
//! - [`recorder`] and [`otlp`]: a loopback server that records what it is sent, and the spans
//!   of the OTLP trace exports among it.
//!
//! Every helper panics with a message that names what failed: a test that cannot run fails, it
//! never skips silently.

pub mod api;
pub mod clock;
pub mod gateway;
pub mod http;
pub mod otlp;
pub mod problem;
pub mod recorder;
pub mod records;
pub mod redis;
pub mod redis_server;
pub mod wait;

pub use api::{TestClient, TestMailbox, fake_id_token, jwks_of, seal_for, seal_with};
pub use clock::TestClock;
pub use gateway::{TestGateway, metric_value, test_config};
pub use http::{HttpClient, Reply, basic, http_client, raw_exchange, send_with};
pub use otlp::{ExportedSpan, exported_spans};
pub use problem::{PROBLEM_PREFIX, assert_problem, assert_registration_error};
pub use recorder::{Recorded, Recorder};
pub use records::{client_record, deposit_into, mailbox_record};
pub use redis::{
    SHARED_REDIS, SharedPrefix, delete_prefix, free_port, info_field, query, require_redis_tools,
    require_shared_redis, test_redis_url, unique_prefix,
};
pub use redis_server::{RedisCluster, RedisServer};
pub use wait::{EVENTUALLY, PATIENCE, eventually, join_all, now_secs, within};
