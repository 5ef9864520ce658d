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

	// The hard abandon budget (docs/DIALER.md) looks at the worst case, not the model:
	// Pooled is the ringing lines with no agent reserved (Waiting answers and these
	// need one of the Free agents); Answered is the live-answered calls in the rolling
	// window that are still in it when every line placed now has ended; Abandons is the
	// abandons in the window now.
	Pooled   int
	Answered int
	Abandons int
}

// PaceDecision is the model's answer, with the numbers that explain it.
type PaceDecision struct {
	Lines     int     // new lines to place now
	Reserve   bool    // place them one per free agent, reserving it (progressive fallback)
	Brake     float64 // 1 = no brake … 0 = full brake (no over-dial)
	Target    float64 // per-decision expected-abandon target used
	Available float64 // agents counted as available for the answers to come
	Expected  float64 // expected live answers from ringing + new lines
	// Worst is the abandons if every pooled line in flight and every new line were
	// answered live at once with only the free agents to take them; Budget is what the
	// window can absorb then: AbandonBudget(limit, answered, abandons, those answers).
	// New lines are placed only when, with them, Worst is 0 or at most Budget.
	Worst, Budget int
	Reason        string
}

// AbandonBudget is how many more abandons the rolling window can take if answers
// more live-answered calls come on top of answered: ⌊limit × (answered + answers)⌋ −
// abandons (negative when the window is already over).
func AbandonBudget(limit float64, answered, abandons, answers int) int {
	// the epsilon keeps 0.03 × 100 at 3 despite binary floating point
	return int(math.Floor(limit*float64(answered+answers)+1e-9)) - abandons
}

// worstCase is the abandons if answers live answers came at once to agents free
// agents, and the budget for them.
func worstCase(in PaceInput, answers, agents int) (worst, budget int) {
	return max(0, answers-agents), AbandonBudget(in.Limit, in.Answered, in.Abandons, answers)
}

// withinBudget: no abandon is possible even in the worst case, or the worst case fits
// the budget.
func withinBudget(in PaceInput, answers, agents int) bool {
	w, b := worstCase(in, answers, agents)
	return w == 0 || w <= b
}

// largest is the largest n in [0, hi] with ok(n), for ok true up to some n and false
// above; 0 when it holds for no n > 0 (whether or not ok(0) holds).
func largest(hi int, ok func(int) bool) int {
	lo := 0
	if hi <= 0 {
		return 0
	}
	if ok(hi) {
		return hi
	}
	for hi-lo > 1 { // ok(lo) && !ok(hi)
		mid := (lo + hi) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
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
// Lines are capped by MaxLines and MaxRatio lines per available agent, and by the hard
// abandon budget: with every pooled line in flight and every new one answered at once
// and only the free agents to take them, the abandons must fit within
// AbandonBudget(limit, Answered, Abandons, those answers); the over-dial beyond it is
// not placed, and when no over-dial fits at all the lines are reserved (progressive).
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
	d.Worst, d.Budget = worstCase(in, in.Waiting+in.Pooled, in.Free)
	if room <= 0 {
		d.Reason = "max-lines"
		return d
	}
	if br <= 0 {
		// Progressive fallback: agents expected to be taken by answers already coming
		// are not reserved again.
		cover := int(math.Ceil(mean + 2*math.Sqrt(vr)))
		n := clamp(in.Free-in.Waiting-cover, 0, room)
		d.Reason = "brake: abandon rate at limit, progressive"
		// each reserved line takes an agent away from the pooled answers in flight
		if nb := largest(n, func(k int) bool { return withinBudget(in, in.Waiting+in.Pooled, in.Free-k) }); nb < n {
			n = nb
			d.Reason = "brake and abandon budget: progressive"
		}
		d.Lines, d.Reserve, d.Available, d.Expected = n, true, float64(in.Free-in.Waiting), mean
		d.Worst, d.Budget = worstCase(in, in.Waiting+in.Pooled, in.Free-n)
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
	n := largest(hi, ok)
	d.Reason = "model"
	// The hard abandon budget: the over-dial must fit even if every pooled line in
	// flight and every new one were answered at once.
	if nb := largest(n, func(k int) bool { return withinBudget(in, in.Waiting+in.Pooled+k, in.Free) }); nb < n {
		n = nb
		d.Reason = "abandon budget"
		if nb <= in.Free-in.Waiting-in.Pooled {
			// no over-dial fits at all: progressive for the agents the worst case
			// leaves uncovered, each reserved (no inbound call or pause can take it)
			d.Reserve = true
			d.Reason = "abandon budget: progressive"
		}
	}
	d.Lines = n
	d.Expected = mean + float64(n)*p
	if d.Reserve {
		d.Worst, d.Budget = worstCase(in, in.Waiting+in.Pooled, in.Free-n)
	} else {
		d.Worst, d.Budget = worstCase(in, in.Waiting+in.Pooled+n, in.Free)
	}
	return d
}

func clamp(n, lo, hi int) int {
	return max(lo, min(n, hi))
}
