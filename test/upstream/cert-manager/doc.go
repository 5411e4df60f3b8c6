// Package bench holds no code: see go.mod, and the programs under
// webhook/, cainjector/ and controller/.
package bench
