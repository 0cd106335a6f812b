test.todo('marbles')
