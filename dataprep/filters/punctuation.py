"""Character classes the rules share, as RE2 patterns for Arrow's regex kernels."""

# Sentence terminators (Unicode Sentence_Terminal, the common ones) plus what closes a Chinese sentence: an ellipsis
# or a closing quote after the full stop (。」 ！』 ？”), so Chinese lines ending that way count as line ends.
LINE_END = r"[.!?\x{0589}\x{061f}\x{06d4}\x{0964}\x{0965}\x{3002}\x{ff01}\x{ff1f}\x{ff0e}\x{ff61}\x{203c}\x{203d}" \
           r"\x{2047}-\x{2049}\x{2026}\x{300d}\x{300f}\x{201d}]$"
BULLET_START = r"^\s*[\x{2022}\x{2023}\x{25e6}\x{2043}\x{2219}\x{25aa}\x{25cf}\-*\x{00b7}]"  # - * • ‣ ◦ ⁃ ∙ ▪ ● ·
ELLIPSIS_END = r"(\.\.\.|\x{2026})$"
ELLIPSIS = r"\.\.\.|\x{2026}"
