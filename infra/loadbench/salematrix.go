package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// intList is a flag of comma-separated positive counts, e.g. "8,50".
type intList []int

func (l *intList) String() string {
	parts := make([]string, len(*l))
	for i, n := range *l {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(v string) error {
	var out intList
	for p := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive count", p)
		}
		out = append(out, n)
	}
	*l = out
	return nil
}

// saleCells is how many flash sales -only sale runs: one per catalogue size
// and number in flight.
func (o config) saleCells() int { return len(o.SaleCatalogues) * len(o.SaleInFlight) }

// saleEnv is what a system of its own needs for -only sale: every buyer
// tries once per cell and may win in each, so the open-order cap
// (MAX_OPEN_ORDERS, 4 by default) must not refuse a winner of an earlier
// cell.
func (o config) saleEnv() []string {
	if o.Only != "sale" || o.saleCells() <= 4 {
		return nil
	}
	return []string{"MAX_OPEN_ORDERS=" + strconv.Itoa(o.saleCells())}
}

// runSaleMatrix signs the buyers and sellers up once, then runs the flash
// sale for each catalogue size (smallest first) and each number of buyers in
// flight. Before the sales of a size, the catalogue is topped up to that
// many tickets, counting the earlier cells' sale tickets (each cell lists
// its own -sale-tickets): a cell's figures say how many tickets orders'
// replica held during it.
func (b *bench) runSaleMatrix(ctx context.Context) error {
	b.step("seeding: %d buyers and %d sellers sign up", b.opts.Buyers, b.opts.Sellers)
	if err := b.signUps(ctx); err != nil {
		return err
	}
	catalogues := slices.Sorted(slices.Values(b.opts.SaleCatalogues))
	listed := 0
	for _, size := range catalogues {
		if more := size - listed; more > 0 {
			b.step("seeding: the sellers list %d more tickets (catalogue %d)", more, size)
			b.opts.Catalogue = more
			if err := b.listCatalogue(ctx); err != nil {
				return err
			}
			if err := b.settle(ctx); err != nil {
				return err
			}
			listed = size
		}
		for _, inFlight := range b.opts.SaleInFlight {
			if err := b.saleCell(ctx, size, inFlight); err != nil {
				return err
			}
			listed += b.opts.SaleTickets
		}
	}
	return nil
}

// saleCell runs one flash sale and prints its figures at once.
func (b *bench) saleCell(ctx context.Context, catalogue, inFlight int) error {
	replica, err := b.db.replica().CountDocuments(ctx, bson.M{})
	if err != nil {
		return err
	}
	b.opts.SaleConcurrency = inFlight
	b.saleLabel = fmt.Sprintf(", catalogue %d (replica %d + %d)", catalogue, replica, b.opts.SaleTickets)
	b.step("flash sale: %d buyers, %d tickets, %d in flight, catalogue %d", b.opts.Buyers, b.opts.SaleTickets, inFlight, catalogue)
	if err := b.flashSale(ctx); err != nil {
		return err
	}
	f := b.sales[len(b.sales)-1]
	b.step("flash sale: %d in flight, catalogue %d: winners %d, p50 %s, p99 %s; order:created p50 %s, p99 %s; reserved p50 %s, p99 %s",
		inFlight, catalogue, f.Winners, ms(f.P50), ms(f.P99), ms(f.Published[0]), ms(f.Published[1]), ms(f.Reserved[0]), ms(f.Reserved[1]))
	return nil
}
