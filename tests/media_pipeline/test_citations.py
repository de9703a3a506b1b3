"""Citations taken out of what the narrator reads, in the forms real papers write them (most examples below are
sentences from the papers in the test corpus), with the sentence still reading well around the cut; and ordinary
sentences, with their years, numbers, brackets and parentheses, left exactly as they were."""

from __future__ import annotations

import pytest

from media_pipeline.text import clean_for_listener, spoken, without_citations


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # Numeric brackets: lists, ranges, semicolons, several brackets in a row, a page.
        ("This was shown before [3, 7].", "This was shown before."),
        ("As shown [3, 7], it holds.", "As shown, it holds."),
        ("Results improve [12–15] over the baselines.", "Results improve over the baselines."),
        ("Results improve [3; 7] over the baselines.", "Results improve over the baselines."),
        (
            "Elevated temperature during grain filling reduces productivity [43].",
            "Elevated temperature during grain filling reduces productivity.",
        ),
        ("Optimal rates are reached in wheat [6; 44].", "Optimal rates are reached in wheat."),
        ("It works for free, real-time video delivery [1], [16].", "It works for free, real-time video delivery."),
        ("Other studies show that touch helps typing [1] [2].", "Other studies show that touch helps typing."),
        ("Chen et al. [7], [8] use our frame layout.", "Earlier work uses our frame layout."),
        ("The bound is tight [12, p. 5].", "The bound is tight."),
        ("It holds for ranges [3]–[5] too.", "It holds for ranges too."),
        # Alphanumeric keys.
        ("Citation graphs are dense [Lo20].", "Citation graphs are dense."),
        ("Citation graphs are dense [Lo20, KRS+19].", "Citation graphs are dense."),
        ("Such an index is standard [ABC2019].", "Such an index is standard."),
        # Author-year in brackets.
        ("Swarms vote [Seeley et al., 2006].", "Swarms vote."),
        # Parenthetical author-year: one or many, non-ASCII names, "&", letters after years, pages, prefixes.
        ("The results are robust (Lo et al., 2020).", "The results are robust."),
        ("Bees decide quickly (Lo et al., 2020; Müller, 2015).", "Bees decide quickly."),
        ("The effect holds (Wang & Cohen 2019a).", "The effect holds."),
        ("Swarms split in two (see Seeley 2010, p. 12).", "Swarms split in two."),
        ("Long documents are hard to evaluate (e.g., Krishna et al., 2021).", "Long documents are hard to evaluate."),
        ("Tokens are lemmatized (Řehůřek and Sojka, 2010).", "Tokens are lemmatized."),
        ("The t-SNE plots (van der Maaten and Hinton, 2008) show clusters.", "The t-SNE plots show clusters."),
        (
            "Most graph networks (Bruna et al., 2014; Kipf and Welling, 2017; Hamilton et al., 2017a,b; "
            "Wu et al., 2019a,b) aggregate neighbours.",
            "Most graph networks aggregate neighbours.",
        ),
        (
            "Low-rank recovery (Chandrasekaran et al., 2009; 2010; Candes et al., 2009) is well studied.",
            "Low-rank recovery is well studied.",
        ),
        ("Fields are listed (Lo et al., 2020, Table 3).", "Fields are listed."),
        ("Dances encode distance (for a review, see Seeley, 2010).", "Dances encode distance."),
        ("Models overfit (Zhang et al., 2017, inter alia).", "Models overfit."),
        ("Results vary (Kang et al., 2022, 2023).", "Results vary."),
        ("The queen stays (Visscher, in press).", "The queen stays."),
        (
            "Faithfulness is often measured (DeYoung et al., 2021) on short texts.",
            "Faithfulness is often measured on short texts.",
        ),
        (
            "This is the fair-use of copyrighted work (Harvard, 2016; UMGC, 2020).",
            "This is the fair-use of copyrighted work.",
        ),
        ("Swarms, e.g., [3, 4], choose well.", "Swarms choose well."),
        ("This has been considered before, see e.g. [3, 4, 5, 10, 21].", "This has been considered before."),
        # Punctuation and spacing repaired around the cut.
        ("The results (Lo et al., 2020), which we extend, hold.", "The results, which we extend, hold."),
        ("Bees decide (Seeley and Visscher, 2004); wasps do not.", "Bees decide; wasps do not."),
        (
            "Similar to Transformers (Wolfe et al., 2022)’s integration of layers.",
            "Similar to Transformers’s integration of layers.",
        ),
        # Mixed parentheses keep their other words.
        (
            "We use LSTMs (Long Short-Term Memory, Hochreiter and Schmidhuber, 1997).",
            "We use LSTMs (Long Short-Term Memory).",
        ),
        ("We link entities (Ferragina and Scaiella, 2010, TagMe).", "We link entities (TagMe)."),
        (
            "Summaries are short (datasets like XSUM, Narayan et al., 2018).",
            "Summaries are short (datasets like XSUM).",
        ),
        (
            "We perturb claims (via negation or entity swapping as in Kryscinski et al., 2020).",
            "We perturb claims (via negation or entity swapping).",
        ),
        ("The queen leaves (Seeley and Visscher, 2004; see Section 3).", "The queen leaves (see Section 3)."),
        # A citation used as a noun becomes "earlier work".
        ("This is detailed in [12].", "This is detailed in earlier work."),
        ("We build the corpus as in Lo et al. (2020).", "We build the corpus as in earlier work."),
        ("The layout follows the design shown in [49].", "The layout follows the design shown in earlier work."),
        ("We use techniques similar to [42, 43].", "We use techniques similar to earlier work."),
        ("The summaries were generated by [9].", "The summaries were generated by earlier work."),
        ("In [2], we presented a scheme.", "In earlier work, we presented a scheme."),
        (
            "While both [31] and CiteSee use cards, only one ranks.",
            "While both earlier work and CiteSee use cards, only one ranks.",
        ),
        ("The fit is poor, as in (Lo et al., 2020).", "The fit is poor, as in earlier work."),
        (
            "The SIF method of Arora et al. (2017) is a strong baseline.",
            "The SIF method of earlier work is a strong baseline.",
        ),
        (
            "We received examples from Guo et al. (2021) and Ju et al. (2021) for reference.",
            "We received examples from earlier work for reference.",
        ),
        (
            "With the exception of the recent work by Wang et al. (2019), they fail.",
            "With the exception of the recent work, they fail.",
        ),
    ],
)
def test_it_removes_citations_and_repairs_the_sentence(written: str, read: str) -> None:
    assert without_citations(written) == read
    assert clean_for_listener(written) == read.replace(" (see Section 3)", "")


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Smith et al. (2019) show that bees vote.", "Earlier work shows that bees vote."),
        ("We know that Smith et al. (2019) show how bees vote.", "We know that earlier work shows how bees vote."),
        ("Smith and Jones (2019) found that scouts dance.", "Earlier work found that scouts dance."),
        ("Lo et al. [4] propose a parser.", "Earlier work proposes a parser."),
        ("Paek et al. [13] also propose caching.", "Earlier work also proposes caching."),
        ("Paek et al. [13] focus on reducing delay.", "Earlier work focuses on reducing delay."),
        ("Cohan et al. (2019) find that long contexts help.", "Earlier work finds that long contexts help."),
        ("Seeley (2010) demonstrates that quorums work.", "Earlier work demonstrates that quorums work."),
        ("Keeton and Katz [12] consider the problem.", "Earlier work considers the problem."),
        ("Tkaczyk et al. (2018) report GROBID as the best tool.", "Earlier work reports GROBID as the best tool."),
        ("Beltagy et al. (2019) do not report deviations.", "Earlier work does not report deviations."),
        ("Xu et al. (2010) have analyzed such models.", "Earlier work has analyzed such models."),
        ("Lo, Wang, and Neumann (2020) study citations.", "Earlier work studies citations."),
        ("Wang et al. (2022) define faithfulness as follows.", "Earlier work defines faithfulness as follows."),
        ("Seeley (2010, p. 12) argues the opposite.", "Earlier work argues the opposite."),
        (
            "[3] reports that 1 in 5 patients read their notes.",
            "Earlier work reports that 1 in 5 patients read their notes.",
        ),
        ("[35] shows that recent models summarise well.", "Earlier work shows that recent models summarise well."),
        ("As Flower and Hayes [10] puts it, writing is juggling.", "As earlier work puts it, writing is juggling."),
        ("For example, [48] demonstrated an interface.", "For example, earlier work demonstrated an interface."),
        ("Following Beltagy et al. (2019), we build a vocabulary.", "Following earlier work, we build a vocabulary."),
        (
            "Following Peters et al. (2018b); Liu et al. (2019a), we observe this.",
            "Following earlier work, we observe this.",
        ),
        ("Finally, Shenoy and Vin [14] present a server.", "Finally, earlier work presents a server."),
        ("Ref. [3] shows the same.", "Earlier work shows the same."),
        ("Inspired by Saier and Färber (2019), we first align.", "Inspired by earlier work, we first align."),
        # As PDFs write it: "a" and a combining diaeresis.
        ("Inspired by Saier and Fa\u0308rber (2019), we first align.", "Inspired by earlier work, we first align."),
    ],
)
def test_it_turns_narrative_citations_into_earlier_work_with_the_verb_agreeing(written: str, read: str) -> None:
    assert without_citations(written) == read


@pytest.mark.parametrize(
    ("written", "read"),
    [
        # A model's or data set's name stays; only its reference goes.
        ("We compare with SciBERT (2019) and ELMo (2018).", "We compare with SciBERT and ELMo."),
        ("Compared with Doc2vec (2014), it is better.", "Compared with Doc2vec, it is better."),
        ("BERT [7] achieves strong results.", "BERT achieves strong results."),
        ("We use BERT [7] for encoding.", "We use BERT for encoding."),
        ("Among them TinyAODV [12] is the most popular.", "Among them TinyAODV is the most popular."),
        ("Prior systems [3] use a pipeline.", "Prior systems use a pipeline."),
        ("Seeley's (2010) model predicts a quorum.", "Seeley's model predicts a quorum."),
        ("The model is publicly available on arXiv (2018).", "The model is publicly available on arXiv."),
    ],
)
def test_it_keeps_names_that_are_not_authors(written: str, read: str) -> None:
    assert without_citations(written) == read


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("The model is trained on PubMed (Section 3).", "The model is trained on PubMed."),
        ("Accuracy is reported per field (Table 2).", "Accuracy is reported per field."),
        ("Proofs are deferred (Appendix A).", "Proofs are deferred."),
        ("The swarm lifts off (Fig. 4).", "The swarm lifts off."),
        ("It is shown in a Paper Card (Figure 2), such as this one.", "It is shown in a Paper Card, such as this one."),
        ("Users add papers in the first place (Figure 2, right).", "Users add papers in the first place."),
        ("Themes are shared (see Table 7), indicating overlap.", "Themes are shared, indicating overlap."),
        ("Values vary (Tables 5 and 6).", "Values vary."),
        ("We evaluate the data quality (§4).", "We evaluate the data quality."),
        (
            "Positives come from citations of citations (as discussed in §2.4).",
            "Positives come from citations of citations.",
        ),
        ("We develop guidelines (Section 3.1-3.3, see Figure 1 for an overview).", "We develop guidelines."),
        ("The queen leaves (Seeley and Visscher, 2004; see Section 3).", "The queen leaves."),
        ("The trace is recorded (Fig. 3b, c).", "The trace is recorded."),
        ("The derivation is given (Supplementary Table S2).", "The derivation is given."),
        ("We (1) collect data and (2) label it.", "We collect data and label it."),
        ("Papers with (i) no title, (ii) no authors are removed.", "Papers with no title, no authors are removed."),
        ("These include: (1) the number of annotators.", "These include: the number of annotators."),
        ("Bees forage (see Fig. 2; Seeley, 2010), then rest.", "Bees forage, then rest."),
    ],
)
def test_it_trims_parentheses_a_listener_cannot_look_up(written: str, heard: str) -> None:
    assert clean_for_listener(written) == heard


@pytest.mark.parametrize(
    "sentence",
    [
        "In 2019 the team counted 20 scouts.",
        "We follow Seeley et al. in 2020.",
        "Seeley et al. found 10–20 scouts.",
        "The swarm has many scouts (about 10,000 bees).",
        "Results were significant (p < 0.05, n = 20).",
        "The token [CLS] starts every input, and [SEP] ends it.",
        "Probabilities lie in [0, 1] and weights in [0.5, 2].",
        "Counts reached [1,000] in the log.",
        "The colony moved in June (2019).",
        "The population grew to 1.5 million (1850).",
        "The COVID-19 pandemic (2020) changed reviewing.",
        "See Figs. 1-3 and Eq. (2).",
        "Eqs. (2) and (3) give the bound.",
        "A user load which satisfies (2) will not overload the disk.",
        "The pair (M(S), M⊥(S)) is decomposable.",
        "We trained it on ImageNet (ILSVRC 2012) for 90 epochs.",
        "The ACL 2020 conference was held online.",
        "Between 2010 and 2015 the colony grew by 40%.",
        "Weights of 3 kg (dry) were used.",
        "We use GPT-4 and BERT-Base with 110M parameters.",
        "The Microsoft Academic Graph (MAG) is large.",
        "The temperature was 36/31˚C (day/night) for ten days.",
        "Swarms, e.g. honeybees, vote.",
        "It is shown in Table 2 and in Section 3.",
        "Values are reported as mean (SD).",
        "Scouts dance (waggle) and (round) in turn.",
        "Jones and Smith met in Paris.",
        "It ran for 15 minutes (at 2.5 GHz).",
    ],
)
def test_it_leaves_ordinary_sentences_unchanged(sentence: str) -> None:
    assert without_citations(sentence) == sentence
    assert clean_for_listener(sentence) == sentence


def test_it_is_idempotent() -> None:
    text = "Smith et al. (2019) show that bees vote (Lo, 2020), as in [3] (see Table 2)."
    once = clean_for_listener(text)
    assert once == "Earlier work shows that bees vote, as in earlier work."
    assert clean_for_listener(once) == once and without_citations(once) == once


def test_it_keeps_citations_out_of_what_the_narrator_says() -> None:
    assert spoken("Smith et al. (2019) show that scouts dance (Fig. 4).") == "Earlier work shows that scouts dance."
    assert spoken("Swarms vote (Seeley et al., 2006; see Section 3) [12].") == "Swarms vote."


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("In Section 3.1, we describe how PDFs are parsed.", "We describe how PDFs are parsed."),
        ("We use the filter, as described in Section 2, to remove noise.", "We use the filter to remove noise."),
        ("As discussed in Appendix B, the labels are noisy.", "The labels are noisy."),
        # A pointer that is the sentence's own claim stays; the offline script leaves such a sentence out.
        ("This is shown in Section 5.", "This is shown in Section 5."),
    ],
)
def test_it_drops_pointers_to_the_paper_s_sections(written: str, heard: str) -> None:
    assert clean_for_listener(written) == heard


def test_abbreviations_are_said_in_full_the_first_time() -> None:
    from media_pipeline.text import abbreviations, expand_first_uses

    # As PaperMage's and S2ORC's abstracts define them; PDF needs no spelling out.
    defined = abbreviations(
        [
            "Despite growing interest in applying natural language processing (NLP) and computer vision (CV) "
            "models to the scholarly domain, scientific documents remain challenging to work with.",
            "We process Portable Document Format (PDF) files with large language models (LLMs) and the "
            "Microsoft Academic Graph (MAG).",
        ]
    )
    assert defined == {
        "NLP": "natural language processing",
        "CV": "computer vision",
        "LLM": "large language model",
        "MAG": "Microsoft Academic Graph",
    }
    said = expand_first_uses(
        [
            "NLP models rarely see CV data.",
            "Later, NLP again, and an LLM.",
            "LLMs are large.",
            "The Microsoft Academic Graph links papers; MAG is closed.",
            "MAG is still closed.",
        ],
        defined,
    )
    assert said == [
        "Natural language processing (NLP) models rarely see computer vision (CV) data.",
        "Later, NLP again, and a large language model (LLM).",
        "LLMs are large.",
        "The Microsoft Academic Graph links papers; MAG is closed.",  # said in full already
        "MAG is still closed.",
    ]
