package queue

import (
	"fmt"
	"strconv"
	"strings"
)

// Skill expressions
//
// Grammar (whitespace is ignored):
//
//	expr   := and { '|' and }
//	and    := unary { '&' unary }
//	unary  := '!' unary | '(' expr ')' | term
//	term   := skill [ op level ]
//	op     := '>=' | '>' | '<=' | '<' | '=' | '==' | '!='
//	skill  := [A-Za-z0-9_:.\-]+          e.g. lang:pl, product:internet
//	level  := 0..100
//
// A bare skill ("product:internet") means the agent has the skill at level >= 1.
// An agent that lacks a skill has level 0 for comparisons.

// SkillLevels maps a skill name to the agent's level (1..100).
type SkillLevels map[string]int

// ParseError reports an unparsable skill expression with the byte offset of the problem.
type ParseError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("skill expression %q: %s at position %d", e.Expr, e.Msg, e.Pos)
}

// Unwrap lets errors.Is(err, ErrBadSkillExpr) match.
func (e *ParseError) Unwrap() error { return ErrBadSkillExpr }

type cmpOp uint8

const (
	opHas cmpOp = iota
	opGE
	opGT
	opLE
	opLT
	opEQ
	opNE
)

func (o cmpOp) String() string {
	switch o {
	case opHas:
		return ""
	case opGE:
		return ">="
	case opGT:
		return ">"
	case opLE:
		return "<="
	case opLT:
		return "<"
	case opEQ:
		return "="
	case opNE:
		return "!="
	}
	return "?"
}

type nodeKind uint8

const (
	nodeTrue nodeKind = iota
	nodeTerm
	nodeNot
	nodeAnd
	nodeOr
)

// Expr is a parsed skill expression. The zero value / nil matches every agent.
type Expr struct {
	src  string
	root *exprNode
}

type exprNode struct {
	kind  nodeKind
	skill string
	op    cmpOp
	level int
	kids  []*exprNode
}

// ParseSkillExpr parses a skill expression. An empty string yields an expression that
// matches every agent.
func ParseSkillExpr(s string) (*Expr, error) {
	p := &exprParser{src: s}
	p.skip()
	if p.pos >= len(p.src) {
		return &Expr{src: s, root: &exprNode{kind: nodeTrue}}, nil
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skip()
	if p.pos < len(p.src) {
		return nil, p.errf("unexpected %q", string(p.src[p.pos]))
	}
	return &Expr{src: s, root: n}, nil
}

// String returns the canonical text of the expression.
func (x *Expr) String() string {
	if x == nil || x.root == nil {
		return ""
	}
	var b strings.Builder
	x.root.write(&b)
	return b.String()
}

func (n *exprNode) write(b *strings.Builder) {
	switch n.kind {
	case nodeTrue:
		b.WriteString("true")
	case nodeTerm:
		b.WriteString(n.skill)
		if n.op != opHas {
			b.WriteString(n.op.String())
			b.WriteString(strconv.Itoa(n.level))
		}
	case nodeNot:
		b.WriteString("!")
		n.kids[0].write(b)
	case nodeAnd, nodeOr:
		sep := " & "
		if n.kind == nodeOr {
			sep = " | "
		}
		b.WriteString("(")
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b)
		}
		b.WriteString(")")
	}
}

// Match reports whether an agent with the given skills satisfies the expression.
func (x *Expr) Match(skills SkillLevels) bool {
	if x == nil || x.root == nil {
		return true
	}
	return x.root.evalMap(skills)
}

func (n *exprNode) evalMap(s SkillLevels) bool {
	switch n.kind {
	case nodeTrue:
		return true
	case nodeTerm:
		return n.op.cmp(s[n.skill], n.level)
	case nodeNot:
		return !n.kids[0].evalMap(s)
	case nodeAnd:
		for _, k := range n.kids {
			if !k.evalMap(s) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, k := range n.kids {
			if k.evalMap(s) {
				return true
			}
		}
		return false
	}
	return false
}

func (o cmpOp) cmp(have, want int) bool {
	switch o {
	case opHas:
		return have >= 1
	case opGE:
		return have >= want
	case opGT:
		return have > want
	case opLE:
		return have <= want
	case opLT:
		return have < want
	case opEQ:
		return have == want
	case opNE:
		return have != want
	}
	return false
}

// Drop returns a copy of the expression in which every term naming one of the given
// skills (exactly, or as a prefix before ':' — "product" drops "product:internet") is
// replaced by true. A negation of a dropped term is dropped as well. This is how skill
// requirements relax while a call waits.
func (x *Expr) Drop(skills ...string) *Expr {
	if x == nil || x.root == nil {
		return x
	}
	return &Expr{src: x.src, root: simplify(dropNode(x.root, skills))}
}

func dropMatches(skill string, drop []string) bool {
	for _, d := range drop {
		if skill == d || (strings.HasPrefix(skill, d) && len(skill) > len(d) && skill[len(d)] == ':') {
			return true
		}
	}
	return false
}

func dropNode(n *exprNode, drop []string) *exprNode {
	switch n.kind {
	case nodeTerm:
		if dropMatches(n.skill, drop) {
			return &exprNode{kind: nodeTrue}
		}
		c := *n
		return &c
	case nodeNot:
		k := dropNode(n.kids[0], drop)
		if k.kind == nodeTrue {
			return k
		}
		return &exprNode{kind: nodeNot, kids: []*exprNode{k}}
	case nodeAnd, nodeOr:
		c := &exprNode{kind: n.kind, kids: make([]*exprNode, 0, len(n.kids))}
		for _, k := range n.kids {
			c.kids = append(c.kids, dropNode(k, drop))
		}
		return c
	}
	return &exprNode{kind: nodeTrue}
}

func simplify(n *exprNode) *exprNode {
	switch n.kind {
	case nodeAnd:
		kids := n.kids[:0:0]
		for _, k := range n.kids {
			k = simplify(k)
			if k.kind != nodeTrue {
				kids = append(kids, k)
			}
		}
		switch len(kids) {
		case 0:
			return &exprNode{kind: nodeTrue}
		case 1:
			return kids[0]
		}
		return &exprNode{kind: nodeAnd, kids: kids}
	case nodeOr:
		kids := n.kids[:0:0]
		for _, k := range n.kids {
			k = simplify(k)
			if k.kind == nodeTrue {
				return k
			}
			kids = append(kids, k)
		}
		if len(kids) == 1 {
			return kids[0]
		}
		return &exprNode{kind: nodeOr, kids: kids}
	}
	return n
}

// skillNames returns every skill the expression mentions, in order of appearance.
func (x *Expr) skillNames() []string {
	var out []string
	var walk func(n *exprNode)
	walk = func(n *exprNode) {
		if n.kind == nodeTerm {
			out = append(out, n.skill)
		}
		for _, k := range n.kids {
			walk(k)
		}
	}
	if x != nil && x.root != nil {
		walk(x.root)
	}
	return out
}

type exprParser struct {
	src string
	pos int
}

func (p *exprParser) errf(format string, a ...any) error {
	return &ParseError{Expr: p.src, Pos: p.pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *exprParser) skip() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *exprParser) parseOr() (*exprNode, error) {
	return p.parseChain('|', nodeOr, p.parseAnd)
}

func (p *exprParser) parseAnd() (*exprNode, error) {
	return p.parseChain('&', nodeAnd, p.parseUnary)
}

// parseChain parses operands joined by op (single or doubled, "|" or "||") into one
// node of kind; a single operand is returned as it is.
func (p *exprParser) parseChain(op byte, kind nodeKind, operand func() (*exprNode, error)) (*exprNode, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	kids := []*exprNode{first}
	for {
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != op {
			break
		}
		p.pos++
		if p.pos < len(p.src) && p.src[p.pos] == op {
			p.pos++
		}
		k, err := operand()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &exprNode{kind: kind, kids: kids}, nil
}

func (p *exprParser) parseUnary() (*exprNode, error) {
	p.skip()
	if p.pos >= len(p.src) {
		return nil, p.errf("unexpected end of expression, want a skill, '!' or '('")
	}
	switch c := p.src[p.pos]; {
	case c == '!':
		p.pos++
		k, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &exprNode{kind: nodeNot, kids: []*exprNode{k}}, nil
	case c == '(':
		p.pos++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skip()
		if p.pos >= len(p.src) || p.src[p.pos] != ')' {
			return nil, p.errf("missing ')'")
		}
		p.pos++
		return n, nil
	case isSkillChar(c):
		return p.parseTerm()
	default:
		return nil, p.errf("unexpected %q, want a skill, '!' or '('", string(c))
	}
}

func isSkillChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-'
}

func (p *exprParser) parseTerm() (*exprNode, error) {
	start := p.pos
	for p.pos < len(p.src) && isSkillChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name[0] == ':' || name[len(name)-1] == ':' {
		p.pos = start
		return nil, p.errf("malformed skill name %q", name)
	}
	p.skip()
	op := opHas
	if p.pos < len(p.src) {
		two := ""
		if p.pos+1 < len(p.src) {
			two = p.src[p.pos : p.pos+2]
		}
		switch {
		case two == ">=":
			op, p.pos = opGE, p.pos+2
		case two == "<=":
			op, p.pos = opLE, p.pos+2
		case two == "==":
			op, p.pos = opEQ, p.pos+2
		case two == "!=":
			op, p.pos = opNE, p.pos+2
		case p.src[p.pos] == '>':
			op, p.pos = opGT, p.pos+1
		case p.src[p.pos] == '<':
			op, p.pos = opLT, p.pos+1
		case p.src[p.pos] == '=':
			op, p.pos = opEQ, p.pos+1
		}
	}
	n := &exprNode{kind: nodeTerm, skill: name, op: op}
	if op == opHas {
		return n, nil
	}
	p.skip()
	ds := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if ds == p.pos {
		return nil, p.errf("want a level (0-100) after %q", op.String())
	}
	lvl, err := strconv.Atoi(p.src[ds:p.pos])
	if err != nil || lvl > MaxSkillLevel {
		p.pos = ds
		return nil, p.errf("level out of range 0-%d", MaxSkillLevel)
	}
	n.level = lvl
	return n, nil
}

// MaxSkillLevel is the highest level an agent skill or an expression may use.
const MaxSkillLevel = 100

// ParseSkills parses an agent skill list like "lang:pl=5, product:internet=3, billing"
// (a skill without a level has level 1).
func ParseSkills(s string) (SkillLevels, error) {
	out := SkillLevels{}
	pos := 0
	for _, part := range strings.Split(s, ",") {
		t := strings.TrimSpace(part)
		off := pos + strings.Index(part, t)
		pos += len(part) + 1
		if t == "" {
			continue
		}
		name, lvlText, hasLvl := strings.Cut(t, "=")
		name = strings.TrimSpace(name)
		lvl := 1
		if hasLvl {
			v, err := strconv.Atoi(strings.TrimSpace(lvlText))
			if err != nil || v < 1 || v > MaxSkillLevel {
				return nil, &ParseError{Expr: s, Pos: off + len(name) + 1, Msg: "level must be 1-100"}
			}
			lvl = v
		}
		for i := 0; i < len(name); i++ {
			if !isSkillChar(name[i]) {
				return nil, &ParseError{Expr: s, Pos: off + i, Msg: fmt.Sprintf("unexpected %q in skill name", string(name[i]))}
			}
		}
		if name == "" {
			return nil, &ParseError{Expr: s, Pos: off, Msg: "empty skill name"}
		}
		out[name] = lvl
	}
	return out, nil
}
