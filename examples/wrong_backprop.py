"""``examples/matrix_backprop.py`` with one mistake: a missing transpose.

The hidden layers' error should come back through the transposed
weights, ``W.T @ delta``; this one uses ``W @ delta``.  On ``[784, 30,
10]`` that raises a shape error, but where the weight matrices after the
first are square (``[784, 10, 10]``, say) the shapes agree and it trains
without a complaint, on a wrong gradient.  The kit's first case is such
a network, so it shows the wrong values:

    fastnet check examples/wrong_backprop.py:Network --order seed
"""

from fastnet.reference import sigmoid, sigmoid_prime

from matrix_backprop import Network as CorrectNetwork


class Network(CorrectNetwork):

    def backprop(self, X, Y):
        activations, zs = [X], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        delta = (activations[-1] - Y) * sigmoid_prime(zs[-1])
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        for l in range(1, self.num_layers):
            if l > 1:
                delta = (self.weights[-l + 1] @ delta) * \
                    sigmoid_prime(zs[-l])        # should be weights.T
            nabla_b[-l] = delta.sum(axis=1, keepdims=True)
            nabla_w[-l] = delta @ activations[-l - 1].T
        return nabla_b, nabla_w
