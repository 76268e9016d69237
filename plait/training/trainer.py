class Trainer:
    def __init__(self):
        pass
