// Package replicatest holds the tests of planning on a read replica, against
// a real hot standby started by pgtest.NewReplicated: a package of its own, so
// that they build and run apart from the adapter's other tests.
package replicatest
