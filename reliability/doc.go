// Package reliability holds clipbridge's fault and load suite (issue 5):
// Go tests that build the real binary, run it as a subprocess in front of
// a loopback upstream, and drive it with many keep-alive connections,
// a steady soak, upstream faults (killed and restarted, black-holed) and
// hostile clients. Each test states what must hold: no error beyond the
// documented statuses, no hung or doubly answered request, no retried
// mutation, no goroutine or file-descriptor growth, and a bridge that
// keeps serving others. RELIABILITY.md records what was tried and the
// figures.
//
// The package has no non-test code beyond this comment.
package reliability
