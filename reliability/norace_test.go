//go:build !race

package reliability

// raceEnabled reports that this test binary was built with -race.
const raceEnabled = false
