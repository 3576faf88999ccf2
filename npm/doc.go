// Package npm holds no Go code. It is the home of clipbridge's npm packages: the TypeScript
// launcher Paperclip depends on (clipbridge/), one package per platform carrying the binary
// (@clipbridge/linux-x64, linux-arm64, darwin-x64, darwin-arm64) and build.sh, which makes a
// release in one command.
//
// Its tests keep the TypeScript side inside the project's one test command, go test ./...:
// they check the package manifests against each other, run build.sh for this machine, then
// run the type-check (tsc --noEmit) and the vitest suite against the binary it built (with a
// real OpenSSH sshd on loopback for the SSH cases), and install the packed tarballs into a
// scratch project to run the launcher as a user would, with no CLIPBRIDGE_BINARY.
//
// Without node, or without the dev tools (npm ci in this directory), those tests skip with the
// reason, unless CLIPBRIDGE_REQUIRE_TOOLS=1 (CI) turns the skip into a failure.
package npm
