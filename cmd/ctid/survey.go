package main

import (
	"time"

	"github.com/ctid/ctid/cti"
)

// surveySection is `queues[].survey:`, the queue's post-call survey (cti.QueueSurvey).
type surveySection struct {
	Intro         []string                `mapstructure:"intro"`
	Questions     []surveyQuestionSection `mapstructure:"questions"`
	Invalid       []string                `mapstructure:"invalid"`
	Goodbye       []string                `mapstructure:"goodbye"`
	AnswerTimeout time.Duration           `mapstructure:"answer_timeout"`
	DigitTimeout  time.Duration           `mapstructure:"digit_timeout"`
}

type surveyQuestionSection struct {
	Kind   string   `mapstructure:"kind"` // nps or csat
	Prompt []string `mapstructure:"prompt"`
}

// surveys lists the queues' post-call surveys.
func (fc fileConfig) surveys() []cti.QueueSurvey {
	var out []cti.QueueSurvey
	for _, q := range fc.Queues {
		if q.Survey == nil {
			continue
		}
		s := cti.QueueSurvey{Queue: q.ID, Intro: q.Survey.Intro, Invalid: q.Survey.Invalid, Goodbye: q.Survey.Goodbye,
			AnswerTimeout: q.Survey.AnswerTimeout, DigitTimeout: q.Survey.DigitTimeout}
		for _, qq := range q.Survey.Questions {
			s.Questions = append(s.Questions, cti.SurveyQuestion{Kind: qq.Kind, Prompt: qq.Prompt})
		}
		out = append(out, s)
	}
	return out
}
