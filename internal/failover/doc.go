// Package failover holds no code: its test runs the shop as it runs on
// several servers (two `market serve` processes on a Redis Cluster with
// replicas and PostgreSQL), kills one instance and one Redis primary in the
// middle of a claim storm, and checks that every "claimed" answer ends in
// PostgreSQL exactly once (README, "The same shop on several servers").
package failover
