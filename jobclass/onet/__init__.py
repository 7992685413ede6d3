"""O*NET data: the O*NET-SOC 2019 taxonomy and its text views as a corpus, used by training and evaluation alike."""
