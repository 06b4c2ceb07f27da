"""`python -m fastpitch …`, which is also what `torchrun -m fastpitch train …` runs."""

from fastpitch.cli import main

if __name__ == "__main__":
    main()
