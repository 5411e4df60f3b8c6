// Package netkourier holds no code: the module pins net-kourier's
// controller (cmd/kourier) for scripts/testcluster's --real=controllers.
package netkourier
