"""Ray job: dialogues and preference pairs -> token shards with loss masks (for `training sft` and `training dpo`).

    ray job submit --working-dir . -- python jobs/prepare_dialogue.py --config jobs/configs/dialogue.yaml \
        --tokenizer s3://my-bucket/web/03-tokenizer/tokenizer.model --output s3://my-bucket/dialogue

--tokenizer replaces the tokenizer of every tokenize step (the one the web job trained, wherever it lives).
"""

from __future__ import annotations

from prepare import main, parser


def with_tokenizer(tokenizer):
    def adjust(cfg):
        if tokenizer:
            cfg.steps = [s.model_copy(update={"tokenizer": tokenizer}) if s.name == "tokenize" else s for s in cfg.steps]
        return cfg

    return adjust


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0], default_config="jobs/configs/dialogue.yaml")
    p.add_argument("--tokenizer", help="tokenizer .model URL for every tokenize step (overrides the config's)")
    args = p.parse_args()
    main(args, with_tokenizer(args.tokenizer))
