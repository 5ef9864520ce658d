package dialer

import "math"

// PaceInput is everything the predictive model looks at for one decision.
type PaceInput struct {
	Free    int     // Ready agents of the campaign not held by one of its ringing lines
	Soon    float64 // more agents expected free within the horizon
	Waiting int     // answered calls waiting for an agent right now
	Ringing int     // lines placed and not yet answered or failed

	// InFlight holds, per ringing line, the probability that a person still answers
	// it given how long it has rung.
	InFlight []float64

	ConnectRate float64 // probability that a new dial reaches a live person
	AbandonRate float64 // measured over the rolling window
	Sample      int     // live-answered calls in the rolling window
	Limit       float64 // the abandon cap (0.03)
	MaxLines    int     // the campaign's line cap
	Pacing      PacingConfig
}

// PaceDecision is the model's answer, with the numbers that explain it.
type PaceDecision struct {
	Lines     int     // new lines to place now
	Reserve   bool    // place them one per free agent, reserving it (progressive fallback)
	Brake     float64 // 1 = no brake … 0 = full brake (no over-dial)
	Target    float64 // per-decision expected-abandon target used
	Available float64 // agents counted as available for the answers to come
	Expected  float64 // expected live answers from ringing + new lines
	Reason    string
}

// Brake is the brake factor for the abandon rate measured over the rolling window
// (abandons out of sample live-answered calls): 1 up to BrakeAt×limit, then linearly
// down to 0 at the limit (and 0 above it). The rate is first shrunk towards the
// model's own target with MinSample pseudo-calls, so that the first few abandons of
// the day do not slam the brake on a handful of calls.
func Brake(rate float64, sample int, limit float64, p PacingConfig) float64 {
	k := float64(p.MinSample)
	r := (rate*float64(sample) + k*p.TargetShare*limit) / (float64(sample) + k)
	lo := p.BrakeAt * limit
	switch {
	case r <= lo:
		return 1
	case r >= limit:
		return 0
	}
	return (limit - r) / (limit - lo)
}

// overflow is E[(X−a)+]/E[X] for X ~ Normal(mu, v): the expected share of live
// answers that find no agent.
func overflow(mu, v, a float64) float64 {
	if mu <= 0 {
		return 0
	}
	if v <= 1e-12 {
		return math.Max(0, mu-a) / mu
	}
	s := math.Sqrt(v)
	z := (mu - a) / s
	ex := (mu-a)*normCDF(z) + s*normPDF(z)
	return ex / mu
}

// exactUpTo: with at most this many available agents the answer count is computed
// exactly (Poisson-binomial), where the normal approximation is poor.
const exactUpTo = 32

// overflowExact is E[(X−a)+]/E[X] for X = Σ Bernoulli(q_i) over the ringing lines plus
// Binomial(n, p), computed exactly: E[(X−a)+] = E[X] − E[min(X, a)], with the
// distribution of min(X, ⌈a⌉) built line by line (O(lines × a)). E[min(X, a)] is
// linear in a between integers.
func overflowExact(qs []float64, n int, p, a float64) float64 {
	if a < 0 {
		a = 0
	}
	top := int(math.Ceil(a))
	var buf [exactUpTo + 2]float64
	pr := buf[:top+1] // pr[k] = P(min(X, top) = k)
	pr[0] = 1
	mu := 0.0
	add := func(q float64) {
		mu += q
		if top == 0 {
			return
		}
		pr[top] += pr[top-1] * q
		for k := top - 1; k >= 1; k-- {
			pr[k] = pr[k]*(1-q) + pr[k-1]*q
		}
		pr[0] *= 1 - q
	}
	for _, q := range qs {
		add(q)
	}
	for i := 0; i < n; i++ {
		add(p)
	}
	if mu <= 0 {
		return 0
	}
	fl := math.Floor(a)
	emin, tail := 0.0, 0.0 // E[min(X, ⌊a⌋)], P(X ≥ ⌊a⌋+1)
	for k, x := range pr {
		emin += math.Min(float64(k), fl) * x
		if float64(k) >= fl+1 {
			tail += x
		}
	}
	emin += (a - fl) * tail
	return math.Max(0, mu-emin) / mu
}

func normPDF(z float64) float64 { return math.Exp(-z*z/2) / math.Sqrt(2*math.Pi) }
func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// Pace is the predictive pacing model (docs/DIALER.md): place the largest number of
// new lines n such that, with X = live answers still to come from the ringing lines
// plus Binomial(n, p) from the new ones (normal approximation), the expected share of
// answers that find no agent, E[(X−A)+]/E[X], stays under Target, where A = free
// agents − waiting answers + brake × agents likely free within the answer horizon
// and Target = TargetShare × limit × brake. At full brake (rolling abandon rate at the
// limit) it places one reserved line per free agent not already covered: progressive.
// Lines are capped by MaxLines and MaxRatio lines per available agent.
func Pace(in PaceInput) PaceDecision {
	p := in.ConnectRate
	var mean, vr float64
	for _, q := range in.InFlight {
		mean += q
		vr += q * (1 - q)
	}
	room := in.MaxLines - in.Ringing - in.Waiting
	br := Brake(in.AbandonRate, in.Sample, in.Limit, in.Pacing)
	d := PaceDecision{Brake: br}
	if room <= 0 {
		d.Reason = "max-lines"
		return d
	}
	if br <= 0 {
		// Progressive fallback: agents expected to be taken by answers already coming
		// are not reserved again.
		cover := int(math.Ceil(mean + 2*math.Sqrt(vr)))
		n := in.Free - in.Waiting - cover
		d.Lines, d.Reserve, d.Available, d.Expected = clamp(n, 0, room), true, float64(in.Free-in.Waiting), mean
		d.Reason = "brake: abandon rate at limit, progressive"
		return d
	}
	a := float64(in.Free-in.Waiting) + br*in.Pacing.SoonWeight*max(in.Soon, 0)
	d.Available = a
	d.Target = in.Pacing.TargetShare * in.Limit * br
	if a <= 0 || p <= 0 {
		d.Expected = mean
		d.Reason = "no agent available"
		return d
	}
	hi := clamp(int(in.Pacing.MaxRatio*a)-in.Ringing, 0, room)
	ok := func(n int) bool {
		if a <= exactUpTo {
			return overflowExact(in.InFlight, n, p, a) <= d.Target
		}
		fn := float64(n)
		return overflow(mean+fn*p, vr+fn*p*(1-p), a) <= d.Target
	}
	if hi == 0 || !ok(0) {
		d.Expected = mean
		d.Reason = "answers in flight cover the available agents"
		if hi == 0 {
			d.Reason = "max-ratio"
		}
		return d
	}
	lo := 0 // ok(lo) holds
	if ok(hi) {
		lo = hi
	} else {
		for hi-lo > 1 { // ok(lo) && !ok(hi)
			mid := (lo + hi) / 2
			if ok(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	d.Lines = lo
	d.Expected = mean + float64(lo)*p
	d.Reason = "model"
	return d
}

func clamp(n, lo, hi int) int {
	return max(lo, min(n, hi))
}
