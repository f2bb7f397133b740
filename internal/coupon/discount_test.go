package coupon_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"market/internal/coupon"
)

func capAt(n int64) *int64 { return &n }

func fixedOff(value, minOrder int64) coupon.Discount {
	return coupon.Discount{Type: coupon.DiscountFixed, Value: value, MinOrderAmount: minOrder}
}

func percentOff(value int64, maxDiscount *int64, minOrder int64) coupon.Discount {
	return coupon.Discount{Type: coupon.DiscountPercent, Value: value, MaxDiscount: maxDiscount, MinOrderAmount: minOrder}
}

func TestDiscountAmountRule(t *testing.T) {
	const huge = math.MaxInt64 / 100 * 100 // near the top of int64, a multiple of 100
	tests := []struct {
		name     string
		d        coupon.Discount
		subtotal int64
		want     int64
	}{
		{"fixed below the minimum takes nothing", fixedOff(3000, 30_000), 29_999, 0},
		{"fixed at the minimum applies", fixedOff(3000, 30_000), 30_000, 3000},
		{"fixed above the minimum applies", fixedOff(3000, 30_000), 45_000, 3000},
		{"fixed larger than the subtotal takes the subtotal", fixedOff(50_000, 0), 12_000, 12_000},
		{"fixed equal to the subtotal takes it all", fixedOff(12_000, 0), 12_000, 12_000},
		{"percent under the cap", percentOff(10, capAt(5000), 0), 20_000, 2000},
		{"percent reaching the cap exactly", percentOff(10, capAt(5000), 0), 50_000, 5000},
		{"percent over the cap is capped", percentOff(10, capAt(5000), 0), 90_000, 5000},
		{"percent without a cap", percentOff(10, nil, 0), 90_000, 9000},
		{"percent rounds down", percentOff(15, nil, 0), 999, 149},         // 149.85
		{"percent rounds down below 1 won", percentOff(10, nil, 0), 9, 0}, // 0.9
		{"percent below the minimum takes nothing", percentOff(10, capAt(5000), 30_000), 29_999, 0},
		{"100 percent takes the whole subtotal", percentOff(100, nil, 0), 12_345, 12_345},
		{"100 percent is still capped", percentOff(100, capAt(5000), 0), 12_345, 5000},
		{"over 100 percent never exceeds the subtotal", percentOff(250, nil, 0), 12_345, 12_345},
		{"zero subtotal, fixed", fixedOff(3000, 0), 0, 0},
		{"zero subtotal, percent", percentOff(10, nil, 0), 0, 0},
		{"negative subtotal, fixed", fixedOff(3000, 0), -5000, 0},
		{"negative subtotal, percent", percentOff(10, nil, 0), -5000, 0},
		{"negative fixed value takes nothing", fixedOff(-100, 0), 5000, 0},
		{"negative percent takes nothing", percentOff(-10, nil, 0), 5000, 0},
		{"unknown type takes nothing", coupon.Discount{Type: "bogo", Value: 10}, 5000, 0},
		{"huge subtotal, percent, no overflow", percentOff(100, nil, 0), math.MaxInt64, math.MaxInt64},
		{"huge subtotal, 99 percent, no overflow", percentOff(99, nil, 0), huge, huge / 100 * 99},
		{"huge subtotal, percent remainder", percentOff(37, nil, 0), math.MaxInt64, exactPercent(math.MaxInt64, 37)},
		{"huge subtotal, percent capped", percentOff(50, capAt(100_000_000), 0), math.MaxInt64, 100_000_000},
		{"huge subtotal, fixed", fixedOff(3000, 0), math.MaxInt64, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Amount(tt.subtotal); got != tt.want {
				t.Errorf("Amount(%d) = %d, want %d", tt.subtotal, got, tt.want)
			}
		})
	}
}

func TestDiscountAppliesFromTheMinimumOrder(t *testing.T) {
	tests := []struct {
		name     string
		d        coupon.Discount
		subtotal int64
		want     bool
	}{
		{"below the minimum", fixedOff(3000, 30_000), 29_999, false},
		{"at the minimum", fixedOff(3000, 30_000), 30_000, true},
		{"above the minimum", percentOff(10, capAt(5000), 30_000), 30_001, true},
		{"no minimum", fixedOff(3000, 0), 1, true},
		{"empty subtotal", fixedOff(3000, 0), 0, false},
		{"negative subtotal", fixedOff(3000, 0), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Applies(tt.subtotal); got != tt.want {
				t.Errorf("Applies(%d) = %v, want %v", tt.subtotal, got, tt.want)
			}
			if !tt.want && tt.d.Amount(tt.subtotal) != 0 {
				t.Errorf("Amount(%d) = %d where the coupon does not apply", tt.subtotal, tt.d.Amount(tt.subtotal))
			}
		})
	}
}

// The overflow-safe split must give exactly ⌊subtotal·v/100⌋ everywhere in
// int64, checked against big integers.
func TestDiscountPercentIsTheExactFloor(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		s := r.Int64N(math.MaxInt64) + 1
		if r.IntN(2) == 0 {
			s = r.Int64N(10_000_000) + 1
		}
		v := r.Int64N(100) + 1
		if got, want := percentOff(v, nil, 0).Amount(s), exactPercent(s, v); got != want {
			t.Fatalf("%d%% of %d = %d, want %d", v, s, got, want)
		}
	}
}

func exactPercent(s, v int64) int64 {
	p := new(big.Int).Mul(big.NewInt(s), big.NewInt(v))
	return p.Quo(p, big.NewInt(100)).Int64()
}
