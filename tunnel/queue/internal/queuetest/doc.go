// Package queuetest is what the tests of the queue_v1 packages share: a queue directory with
// Paperclip's layout, runners for every kind of execution host, a recording stand-in for the
// callback handler, an in-process gateway, the filesystem snapshots the confinement tests
// compare, and a TestMain that lets a test binary double as `clipbridge gateway` or
// `clipbridge queue-agent` on the "execution host".
//
// It imports none of the programs (worker, gateway, agent), so each of their tests can use it;
// callers pass the program functions in.
package queuetest
