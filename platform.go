package main

// clipbridge builds for Unix systems only; the package's doc comment says
// why, and makes a Windows build fail with a message that names it.
import _ "github.com/clipbridge/clipbridge/internal/unixonly"
