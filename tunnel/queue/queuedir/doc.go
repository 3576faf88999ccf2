// Package queuedir is the queue_v1 directory on the machine the code runs on: requests/,
// responses/ and logs/ under one queue directory that the sandbox can write, treated as hostile.
//
// Root confines every file operation to the queue directory with os.Root and refuses links
// planted in it (root.go explains the rules). The gateway publishes requests and reads responses
// through a Root. Store is the whole directory as the host worker's store contract sees it
// (list and wait with fsnotify, read, guarded write under Paperclip's lock, remove, sweep): the
// worker uses it directly when the queue is on its own machine, and the queue-agent serves it to
// a worker on another machine over the co-process protocol.
package queuedir
