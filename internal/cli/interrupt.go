package cli

import (
	"fmt"
	"io"
	"os"
)

// HandleInterrupts is how neuroscale answers Ctrl-C: the first signal on
// sigs cancels the command (cancel), which then stops cleanly and says
// what the next run will finish; a second one exits at once with 130, for
// a user who will not wait for that cleanup. It returns after calling
// exit, or when sigs is closed.
func HandleInterrupts(sigs <-chan os.Signal, cancel func(), stderr io.Writer, exit func(code int)) {
	if _, ok := <-sigs; !ok {
		return
	}
	cancel()
	fmt.Fprintln(stderr, "\nStopping cleanly; Ctrl-C again quits at once.")
	if _, ok := <-sigs; !ok {
		return
	}
	exit(130)
}
